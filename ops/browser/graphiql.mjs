// graphiql.mjs — drive crossledger's GraphiQL page in headless Chromium.
//
// Debian's /usr/bin/chromium, started by playwright-core (which downloads no
// browser of its own): open the page, enter the bearer token in the page's
// token field, put a person query in GraphiQL's editor, press GraphiQL's run
// button and wait until the result pane holds a tlog-proof bundle. Every
// request the browser makes must go to 127.0.0.1: any other is aborted and
// fails the run, as do uncaught page errors and Content-Security-Policy
// violations. Exit status 0 means the page worked end to end.
//
// Environment:
//   GRAPHIQL_URL    the page, e.g. http://127.0.0.1:8080/ (required; host 127.0.0.1)
//   GATEWAY_TOKEN   the bearer token to enter (required)
//   PERSON_QUERY    the GraphQL query to run; default: a person query of CITIZEN_ID
//   CITIZEN_ID      the citizen of the default query
//   EXPECT          the text the result must contain (default c2sp.org/tlog-proof@v1)
//   SCREENSHOT      where to save a PNG of the page at the end, pass or fail (optional)
//   CHROMIUM        the browser (default /usr/bin/chromium)
//   TIMEOUT_MS      overall deadline (default 120000)
//
// The page's contract (gateway/graphiql): #token, #use-token, #token-status
// (data-state="set" once a token is in use), GraphiQL 3's query editor
// (.graphiql-query-editor .CodeMirror), run button (.graphiql-execute-button,
// aria-label "Execute query (Ctrl-Enter)" / "Stop query (Ctrl-Enter)") and
// result pane (.graphiql-response .CodeMirror). The editors are CodeMirror 5,
// which renders only the lines in view, so the script reads and writes their
// whole text through the CodeMirror instance on the editor's element.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const env = process.env;
const ALLOWED_HOST = '127.0.0.1';

function fail(msg) {
  console.error(`graphiql.mjs: FAIL: ${msg}`);
  process.exit(1);
}

function log(msg) {
  console.log(`graphiql.mjs: ${msg}`);
}

const pageURL = env.GRAPHIQL_URL || fail('GRAPHIQL_URL is unset: the URL of the GraphiQL page, e.g. http://127.0.0.1:8080/');
const token = env.GATEWAY_TOKEN || fail('GATEWAY_TOKEN is unset: the bearer token to enter in the page');
const expect = env.EXPECT || 'c2sp.org/tlog-proof@v1';
const chromiumPath = env.CHROMIUM || '/usr/bin/chromium';
const timeoutMs = Number(env.TIMEOUT_MS || 120000);
const query = env.PERSON_QUERY || (env.CITIZEN_ID
  ? `query Person {
  person(citizenId: ${JSON.stringify(env.CITIZEN_ID)}, purpose: "real-estate-transfer") {
    subject
    departments {
      department
      records { type key leaf fields { name value redacted } proof }
    }
  }
}
`
  : fail('set PERSON_QUERY (the query to run) or CITIZEN_ID (for the default person query)'));

let origin;
try {
  const u = new URL(pageURL);
  if (u.hostname !== ALLOWED_HOST) {
    fail(`GRAPHIQL_URL ${pageURL}: the host must be ${ALLOWED_HOST}, since nothing else may be reached`);
  }
  origin = u.origin;
} catch (e) {
  fail(`GRAPHIQL_URL ${JSON.stringify(pageURL)} is not a URL: ${e.message}`);
}

const deadline = Date.now() + timeoutMs;
const remaining = () => Math.max(1, deadline - Date.now());

const foreign = [];       // requests to other hosts (aborted)
const pageErrors = [];    // uncaught exceptions in the page
const cspViolations = []; // console reports of CSP refusals
const consoleErrors = []; // other console errors, printed on failure
const queryPosts = [];    // POSTs of the person query: {authorization, status}
let inflight = 0;         // query POSTs without a response yet

const userDataDir = mkdtempSync(path.join(tmpdir(), 'crossledger-chromium-'));
let browser; // the persistent context: closing it stops Chromium
let page;

async function screenshot() {
  if (!env.SCREENSHOT || !page) return;
  try {
    await page.screenshot({ path: env.SCREENSHOT, fullPage: true, timeout: 15000 });
    log(`screenshot: ${env.SCREENSHOT}`);
  } catch (e) {
    console.error(`graphiql.mjs: couldn't save the screenshot ${env.SCREENSHOT}: ${e.message}`);
  }
}

// step runs one named step and turns its failure into a clear message.
async function step(name, fn) {
  try {
    return await fn();
  } catch (e) {
    throw new Error(`${name}: ${e.message.split('\n')[0]}`);
  }
}

async function resultText() {
  return page.evaluate(() => {
    const el = document.querySelector('.graphiql-response .CodeMirror');
    if (el && el.CodeMirror) return el.CodeMirror.getValue();
    const pane = document.querySelector('.graphiql-response');
    return pane ? pane.innerText : '';
  });
}

async function runButtonLabel() {
  return page.evaluate(() => {
    const b = document.querySelector('.graphiql-execute-button');
    return b ? b.getAttribute('aria-label') || '' : '';
  });
}

async function main() {
  // A persistent context is how Playwright takes a --user-data-dir: a
  // fresh, empty one made above, removed at the end.
  const context = await step(`launch ${chromiumPath}`, () => chromium.launchPersistentContext(userDataDir, {
    executablePath: chromiumPath,
    headless: true,
    timeout: remaining(),
    viewport: { width: 1400, height: 900 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  }));
  browser = context;

  await context.route('**/*', (route) => {
    const u = new URL(route.request().url());
    if ((u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== ALLOWED_HOST) {
      foreign.push(`${route.request().method()} ${u.href}`);
      return route.abort('blockedbyclient');
    }
    return route.continue();
  });

  page = context.pages()[0] || await context.newPage();
  page.setDefaultTimeout(Math.min(30000, timeoutMs));
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('console', (m) => {
    if (m.type() !== 'error' && m.type() !== 'warning') return;
    const text = m.text();
    if (/Content Security Policy/i.test(text)) cspViolations.push(text);
    else if (m.type() === 'error') consoleErrors.push(text);
  });
  const isQueryPost = (req) => req.method() === 'POST' && new URL(req.url()).origin === origin &&
    (req.postData() || '').includes('person(');
  const posts = new WeakMap(); // request → its entry in queryPosts
  page.on('request', (req) => {
    if (isQueryPost(req)) {
      inflight++;
      const entry = { authorization: req.headers().authorization || '', status: 0 };
      queryPosts.push(entry);
      posts.set(req, entry);
    }
  });
  page.on('requestfinished', async (req) => {
    if (!isQueryPost(req)) return;
    const res = await req.response().catch(() => null);
    if (res && posts.has(req)) posts.get(req).status = res.status();
    inflight--;
  });
  page.on('requestfailed', (req) => {
    if (isQueryPost(req)) inflight--;
    if (new URL(req.url()).hostname === ALLOWED_HOST) {
      consoleErrors.push(`request failed: ${req.method()} ${req.url()}: ${req.failure()?.errorText}`);
    }
  });

  log(`browser: ${await page.evaluate(() => navigator.userAgent)}`);
  await step(`open ${pageURL}`, async () => {
    const res = await page.goto(pageURL, { waitUntil: 'load', timeout: remaining() });
    if (!res || res.status() !== 200) throw new Error(`HTTP ${res ? res.status() : 'no response'}`);
  });

  await step('enter the token in #token and press #use-token', async () => {
    await page.fill('#token', token);
    await page.click('#use-token');
    await page.waitForSelector('#token-status[data-state="set"]');
  });
  log(`token status: ${await page.textContent('#token-status')}`);

  await step('wait for GraphiQL\'s query editor', () =>
    page.waitForFunction(() => {
      const el = document.querySelector('.graphiql-query-editor .CodeMirror');
      return el && el.CodeMirror;
    }, null, { timeout: remaining() }));

  await step('set the query in GraphiQL\'s editor', () =>
    page.evaluate((q) => {
      document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.setValue(q);
    }, query));

  // Run, and run again while the answer lacks the proof: right after the
  // data set is published the projection may still be catching up.
  let runs = 0;
  let lastRun = 0;
  let text = '';
  for (;;) {
    if (Date.now() > deadline) {
      throw new Error(`the result pane did not show ${JSON.stringify(expect)} within ${timeoutMs} ms after ${runs} run(s); it holds:\n${text.slice(0, 3000)}`);
    }
    const label = await runButtonLabel();
    if (inflight === 0 && label.startsWith('Execute') && (runs === 0 || Date.now() - lastRun > 3000)) {
      await step('press GraphiQL\'s run button', () => page.click('.graphiql-execute-button'));
      runs++;
      lastRun = Date.now();
      log(`run ${runs}`);
    }
    await page.waitForTimeout(250);
    text = await resultText();
    if (text.includes(expect)) break;
    // A refusal will not go away by asking again: say so now.
    const last = queryPosts[queryPosts.length - 1];
    if (inflight === 0 && last && [400, 401, 403, 404, 405, 413, 415, 422].includes(last.status)) {
      throw new Error(`the endpoint answered the query with HTTP ${last.status}; the result pane holds:\n${text.slice(0, 3000)}`);
    }
  }
  log(`the result pane shows ${expect} (after ${runs} run(s), ${text.length} characters)`);
  // Bring the first proof into view, so that the screenshot shows it.
  await page.evaluate((want) => {
    const cm = document.querySelector('.graphiql-response .CodeMirror')?.CodeMirror;
    if (!cm) return;
    for (let i = 0; i < cm.lineCount(); i++) {
      if (cm.getLine(i).includes(want)) {
        cm.scrollIntoView({ line: i, ch: 0 }, 200);
        return;
      }
    }
  }, expect).catch(() => {});

  const sent = queryPosts.filter((p) => p.authorization !== '');
  if (sent.length === 0 || sent.some((p) => p.authorization !== `Bearer ${token}`)) {
    throw new Error(`the query was not sent with "Authorization: Bearer <the token>" (POSTs seen: ${JSON.stringify(queryPosts.map((p) => ({ bearer: p.authorization.startsWith('Bearer '), status: p.status })))})`);
  }
}

let failure = null;
try {
  await main();
} catch (e) {
  failure = e.message;
}
await screenshot();
if (browser) await browser.close().catch(() => {});
rmSync(userDataDir, { recursive: true, force: true });

if (foreign.length > 0) {
  failure = (failure ? failure + '\n' : '') + `requests left ${ALLOWED_HOST} (aborted):\n  ${foreign.join('\n  ')}`;
}
if (pageErrors.length > 0) {
  failure = (failure ? failure + '\n' : '') + `uncaught errors in the page:\n  ${pageErrors.join('\n  ')}`;
}
if (cspViolations.length > 0) {
  failure = (failure ? failure + '\n' : '') + `Content-Security-Policy violations:\n  ${cspViolations.join('\n  ')}`;
}
if (failure) {
  if (consoleErrors.length > 0) console.error(`console errors:\n  ${consoleErrors.join('\n  ')}`);
  fail(failure);
}
log('PASS: GraphiQL ran the query with the token and shows a proof; no request left 127.0.0.1');
