// .ci/chdb/run.js SCRIPT.json — run the cinch ClickHouse sink's SQL (written
// by the sink's and the Grafana dashboards' tests: [{sql, rows, columns?}]) against the current ClickHouse engine
// embedded in the npm package chdb. Exits non-zero on the first statement
// that fails or on a query whose row count differs from the expected one.
// NODE_PATH must hold the node_modules where chdb is installed.
'use strict';
const fs = require('fs');
const { Session, query } = require('chdb');

const file = process.argv[2];
if (!file) {
  console.error('usage: node run.js SCRIPT.json');
  process.exit(2);
}
const stmts = JSON.parse(fs.readFileSync(file, 'utf8'));
const sess = new Session();
let failed = 0;
console.log(`chdb engine ${sess.query('SELECT version()', 'TSV').trim()}: ${stmts.length} statements`);
for (const [i, st] of stmts.entries()) {
  try {
    const out = sess.query(st.sql, 'JSONCompact');
    if (st.rows >= 0) {
      const got = out.trim() === '' ? 0 : JSON.parse(out).rows;
      if (got !== st.rows) {
        console.error(`#${i}: ${got} rows, want ${st.rows}:\n${st.sql}\n${out}`);
        failed++;
      }
    }
    if (Array.isArray(st.columns)) {
      const names = out.trim() === '' ? [] : JSON.parse(out).meta.map((m) => m.name);
      if (JSON.stringify(names) !== JSON.stringify(st.columns)) {
        console.error(`#${i}: columns ${JSON.stringify(names)}, want ${JSON.stringify(st.columns)}:\n${st.sql}`);
        failed++;
      }
    }
  } catch (e) {
    console.error(`#${i} failed: ${e.message}\n${st.sql}`);
    failed++;
  }
}
sess.cleanup();
if (failed) {
  console.error(`${failed} of ${stmts.length} statements failed on chdb`);
  process.exit(1);
}
console.log(`all ${stmts.length} statements ran on chdb`);
