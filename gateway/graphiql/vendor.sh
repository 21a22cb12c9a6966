#!/usr/bin/env bash
# vendor.sh — re-vendor GraphiQL's browser bundle and React from the npm
# registry into assets/, and rewrite assets/VERSIONS.
#
# Nothing here runs at build or run time: the files it writes are committed
# and embedded in the binary (go:embed), so the page fetches nothing from
# the internet. Run it (from anywhere) only to change a version below, then
# review the diff, run `go test ./gateway/graphiql/` and the browser test.
#
# Reproducible: exact versions; npm verifies every tarball against the
# registry's sha512 integrity; VERSIONS records the sha256 of every file
# copied, and the Go tests check the embedded files against it.
#
# Why GraphiQL 3.x: it is the last line that ships a standalone UMD bundle
# (graphiql.min.js + graphiql.min.css) needing only React and ReactDOM as
# globals. GraphiQL 4 and 5 are ESM-only with Monaco web workers and
# expect a bundler (or a CDN with import maps).
set -euo pipefail

GRAPHIQL=3.9.0
REACT=18.3.1 # GraphiQL 3's UMD bundle wants React 16.8–18 as window.React; 19 has no UMD build.

cd "$(dirname "$0")"
out=assets
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo '{"private": true}' >"$tmp/package.json"
# graphql is a peer dependency of graphiql's npm package (its UMD bundle
# includes graphql-js); it is installed only so that the licence list
# below covers the dependency tree that the bundle was built from.
(cd "$tmp" && npm install --ignore-scripts --no-audit --no-fund --silent --save-exact \
	"graphiql@$GRAPHIQL" "react@$REACT" "react-dom@$REACT" "graphql@16")
nm=$tmp/node_modules

installed() { node -p "require('$nm/$1/package.json').version"; }
for pkg in graphiql:$GRAPHIQL react:$REACT react-dom:$REACT; do
	got=$(installed "${pkg%%:*}")
	[ "$got" = "${pkg#*:}" ] || { echo "vendor.sh: npm installed ${pkg%%:*}@$got, want ${pkg#*:}" >&2; exit 1; }
done

rm -f "$out"/*.js "$out"/*.css "$out"/LICENSE.*
cp "$nm/graphiql/graphiql.min.js" "$nm/graphiql/graphiql.min.css" "$out/"
cp "$nm/react/umd/react.production.min.js" "$out/"
cp "$nm/react-dom/umd/react-dom.production.min.js" "$out/"
cp "$nm/graphiql/LICENSE" "$out/LICENSE.graphiql"
cp "$nm/react/LICENSE" "$out/LICENSE.react"
cp "$nm/react-dom/LICENSE" "$out/LICENSE.react-dom"

# The bundle's source maps are left out on purpose: they would only add
# 4 MB to the binary.
{
	echo "# Vendored by vendor.sh from the npm registry ($(npm config get registry))."
	echo "# Do not edit by hand: change the versions in vendor.sh and run it."
	echo "#"
	echo "# package    version  licence  files"
	printf 'graphiql     %s    %s      graphiql.min.js graphiql.min.css (UMD; bundles its dependencies, see below)\n' "$GRAPHIQL" "$(node -p "require('$nm/graphiql/package.json').license")"
	printf 'react        %s   %s      react.production.min.js (UMD)\n' "$REACT" "$(node -p "require('$nm/react/package.json').license")"
	printf 'react-dom    %s   %s      react-dom.production.min.js (UMD)\n' "$REACT" "$(node -p "require('$nm/react-dom/package.json').license")"
	echo "#"
	echo "# Licences of graphiql's dependency tree as npm resolved it when vendoring"
	echo "# (graphiql.min.js includes those of them that the browser code uses):"
	node -e '
		const fs = require("fs"), path = require("path");
		const by = {};
		(function walk(dir) {
			for (const name of fs.readdirSync(dir).sort()) {
				if (name.startsWith(".")) continue;
				const p = path.join(dir, name);
				if (name.startsWith("@")) { walk(p); continue; }
				const pj = path.join(p, "package.json");
				if (!fs.existsSync(pj)) continue;
				const j = JSON.parse(fs.readFileSync(pj));
				const l = typeof j.license === "string" ? j.license : "UNKNOWN";
				(by[l] = by[l] || []).push(j.name + "@" + j.version);
				if (fs.existsSync(path.join(p, "node_modules"))) walk(path.join(p, "node_modules"));
			}
		})(process.argv[1]);
		for (const l of Object.keys(by).sort()) {
			const v = by[l].sort();
			console.log("#   " + l + " (" + v.length + "): " + (l === "MIT" ? "all others" : v.join(", ")));
		}' "$nm"
	echo "#"
	echo "# sha256 of each file:"
	(cd "$out" && sha256sum -- *.js *.css LICENSE.* | sed 's/^/sha256 /')
} >"$out/VERSIONS"

ls -l "$out"
