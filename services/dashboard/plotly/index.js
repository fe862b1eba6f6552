// The trace types the dashboard page draws (dashboard.js and the fixed figures of components.py):
// scatter (in the core), bar, box and heatmap. A chart of another type needs its module here.
var Plotly = require('plotly.js/lib/core');

Plotly.register([
    require('plotly.js/lib/bar'),
    require('plotly.js/lib/box'),
    require('plotly.js/lib/heatmap'),
]);

module.exports = Plotly;
