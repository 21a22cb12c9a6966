// crossledger's GraphiQL page: the token bar and GraphiQL itself.
//
// Loaded after React, ReactDOM and GraphiQL (all `defer`, in order). No
// inline script anywhere: the page's Content-Security-Policy forbids it.
// The bearer token lives in this tab's sessionStorage only; every request
// GraphiQL makes (queries and its schema introspection) is a POST to the
// gateway's endpoint with "Authorization: Bearer <token>".
(function () {
  'use strict';

  var TOKEN_KEY = 'crossledger.gateway.token';
  var DEFAULT_QUERY = [
    '# crossledger gateway',
    '#',
    '# 1. Paste a bearer token above and press "use token"',
    '#    (`crossledger dev` prints one, and a citizen id to ask about).',
    '# 2. Put that citizen id below and run the query (Ctrl-Enter).',
    '#',
    '# Values come back only for fields granted to your department for the',
    '# purpose; the rest are redacted. Every record carries a',
    '# c2sp.org/tlog-proof@v1 bundle that verifies offline.',
    'query Person {',
    '  person(citizenId: "CITIZEN-ID", purpose: "real-estate-transfer") {',
    '    subject',
    '    departments {',
    '      department',
    '      records {',
    '        type',
    '        key',
    '        leaf',
    '        fields { name value redacted }',
    '        proof',
    '      }',
    '    }',
    '  }',
    '}',
    ''
  ].join('\n');

  function meta(name) {
    var m = document.querySelector('meta[name="' + name + '"]');
    return m ? m.getAttribute('content') : '';
  }

  var endpoint = meta('crossledger-graphql-endpoint');
  // GraphiQL's dialogs add one <style> element (react-remove-scroll); it
  // takes its nonce from this global, and the page's CSP allows that nonce.
  window.__webpack_nonce__ = meta('crossledger-style-nonce');

  function getToken() {
    try {
      return window.sessionStorage.getItem(TOKEN_KEY) || '';
    } catch (e) {
      return '';
    }
  }

  function setToken(t) {
    try {
      if (t) {
        window.sessionStorage.setItem(TOKEN_KEY, t);
      } else {
        window.sessionStorage.removeItem(TOKEN_KEY);
      }
      return true;
    } catch (e) {
      return false;
    }
  }

  // describe says whose token it is, from its (unverified) JWT claims, for
  // the status line only; the gateway is what checks the token.
  function describe(t) {
    var parts = t.split('.');
    if (parts.length !== 3) {
      return 'token in use (this tab only)';
    }
    try {
      var json = atob(parts[1].replace(/-/g, '+').replace(/_/g, '/'));
      var claims = JSON.parse(decodeURIComponent(Array.prototype.map.call(json, function (c) {
        return '%' + ('00' + c.charCodeAt(0).toString(16)).slice(-2);
      }).join('')));
      var who = [claims.sub, claims.department || claims.dept].filter(Boolean).join(', ');
      var s = 'token in use (this tab only)' + (who ? ' for ' + who : '');
      if (typeof claims.exp === 'number') {
        var exp = new Date(claims.exp * 1000);
        s += (exp < new Date() ? '; EXPIRED ' : '; expires ') + exp.toISOString().replace('.000Z', 'Z');
      }
      return s;
    } catch (e) {
      return 'token in use (this tab only)';
    }
  }

  var status = document.getElementById('token-status');
  var input = document.getElementById('token');

  function showStatus() {
    var t = getToken();
    status.textContent = t ? describe(t) : 'no token: queries are anonymous';
    status.setAttribute('data-state', t ? 'set' : 'none');
  }

  async function fetcher(params) {
    var headers = {
      'Content-Type': 'application/json',
      'Accept': 'application/graphql-response+json, application/json'
    };
    var t = getToken();
    if (t) {
      headers.Authorization = 'Bearer ' + t;
    }
    var res;
    try {
      res = await fetch(endpoint, {
        method: 'POST',
        headers: headers,
        body: JSON.stringify(params),
        credentials: 'omit',
        cache: 'no-store'
      });
    } catch (e) {
      return { errors: [{ message: 'couldn\'t reach the gateway at ' + endpoint + ': ' + e.message }] };
    }
    var text = await res.text();
    try {
      return JSON.parse(text);
    } catch (e) {
      return {
        errors: [{ message: 'the gateway answered HTTP ' + res.status + ' with no GraphQL response: ' + text.slice(0, 500) }]
      };
    }
  }

  var root = null;

  // render renders GraphiQL, with a fetcher of a new identity each time:
  // that is what makes GraphiQL fetch the schema again (introspection
  // needs an authenticated caller) without remounting, so the editors
  // keep what they hold.
  function render() {
    if (typeof window.GraphiQL === 'undefined' || typeof window.React === 'undefined') {
      document.getElementById('graphiql').textContent = 'GraphiQL did not load: see the browser console.';
      return;
    }
    if (root === null) {
      root = window.ReactDOM.createRoot(document.getElementById('graphiql'));
    }
    root.render(window.React.createElement(window.GraphiQL, {
      fetcher: function (params, opts) {
        return fetcher(params, opts);
      },
      defaultQuery: DEFAULT_QUERY,
      isHeadersEditorEnabled: false,
      shouldPersistHeaders: false
    }));
  }

  function useToken() {
    var t = input.value.trim().replace(/^Bearer\s+/i, '');
    if (!t) {
      input.focus();
      return;
    }
    if (!setToken(t)) {
      status.textContent = 'couldn\'t keep the token: sessionStorage is unavailable';
      status.setAttribute('data-state', 'error');
      return;
    }
    input.value = '';
    showStatus();
    render();
  }

  // A form, so that Enter in the field uses the token; it never submits
  // (and the CSP's form-action 'none' would stop it if this script failed).
  document.getElementById('token-bar').addEventListener('submit', function (e) {
    e.preventDefault();
    useToken();
  });
  document.getElementById('forget-token').addEventListener('click', function () {
    setToken('');
    input.value = '';
    showStatus();
    render();
  });

  showStatus();
  render();
})();
