// Builds ../src/dsp_dashboard/domain/assets/plotly-dashboard.min.js from index.js:
//   cd services/dashboard/plotly && npm ci && npm run build
// The output is committed (the dashboard is built offline, with no Node at run time); rebuild it
// after changing index.js or the plotly.js version in package.json.
import { build } from 'esbuild';
import { readFileSync, writeFileSync } from 'node:fs';

const version = JSON.parse(readFileSync('node_modules/plotly.js/package.json', 'utf8')).version;
const out = '../src/dsp_dashboard/domain/assets/plotly-dashboard.min.js';
const result = await build({
    entryPoints: ['index.js'],
    format: 'iife',
    globalName: 'Plotly',
    bundle: true,
    minify: true,
    legalComments: 'none',
    write: false,
    define: { global: 'window', 'define.amd': 'false', 'process.env.NODE_DEBUG': 'false' },
    alias: { stream: 'stream-browserify' },
    // Only map traces load a stylesheet (maplibre-gl's); none is in this bundle.
    loader: { '.css': 'empty' },
    target: 'es2016',
    logLevel: 'warning',
});
const banner = `/**\n* plotly.js (dashboard partial: scatter, bar, box, heatmap - minified) v${version}\n` +
    '* Copyright 2012-2026, Plotly, Inc.\n* All rights reserved.\n* Licensed under the MIT license\n*/\n';
writeFileSync(out, banner + result.outputFiles[0].text);
console.log(`${out}: ${(banner.length + result.outputFiles[0].contents.length) / 1048576} MiB`);
