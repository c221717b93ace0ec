// Drives headless Chromium through the registry's pages, as a person would: search,
// filter, read a package, follow a WIT link, compare versions, look at a composition,
// on a desktop and on a 390px phone. Run by registry-server/tests/browser.rs against a
// seeded server:
//
//   node web-tests/browser.mjs http://127.0.0.1:PORT target/screenshots
//
// Prints one line per check and "N passed, N failed"; exits 1 when any check failed.

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const [base, shots = 'screenshots'] = process.argv.slice(2);
if (!base) {
  console.error('usage: node browser.mjs <base-url> [screenshot-dir]');
  process.exit(2);
}
mkdirSync(shots, { recursive: true });
const scripted = process.env.WHARF_SCRIPTED_DESCRIPTION;

const browser = await chromium.launch({
  executablePath: process.env.WHARF_CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-dev-shm-usage'],
});
const desktop = await browser.newContext({ viewport: { width: 1280, height: 900 } });
const phone = await browser.newContext({
  viewport: { width: 390, height: 844 },
  deviceScaleFactor: 2,
  isMobile: true,
  hasTouch: true,
});
const noScript = await browser.newContext({
  viewport: { width: 1280, height: 900 },
  javaScriptEnabled: false,
});

// Anything a page tries to run or pop up is a failure.
const dialogs = [];
for (const context of [desktop, phone, noScript]) {
  context.on('page', (p) => p.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss(); }));
}

let passed = 0;
let failed = 0;
async function check(name, body) {
  try {
    await body();
    passed += 1;
    console.log(`ok - ${name}`);
  } catch (e) {
    failed += 1;
    console.log(`not ok - ${name}\n  ${String(e.stack || e).replaceAll('\n', '\n  ')}`);
  }
}

/// Opens `path` and checks what every page has: a 200, a title, a viewport, no script.
async function open(context, path, status = 200) {
  const page = await context.newPage();
  const response = await page.goto(base + path);
  assert.equal(response.status(), status, `${path} answered ${response.status()}`);
  await checkShell(page);
  return page;
}

async function checkShell(page) {
  assert.match(await page.title(), / · Wharf$/);
  assert.equal(await page.locator('meta[name=viewport]').count(), 1);
  assert.equal(await page.locator('script').count(), 0, 'pages carry no JavaScript');
}

const texts = (locator) => locator.allTextContents().then((t) => t.map((s) => s.trim()));

await check('the home page shows counts and recently published packages', async () => {
  const page = await open(desktop, '/');
  assert.equal(await page.title(), 'Registry · Wharf');
  assert.match(await page.locator('.stats').innerText(), /\d+ packages\s+\d+ versions/);
  assert.ok((await page.locator('ul.packages li').count()) >= 10);
  await page.screenshot({ path: join(shots, 'home.png'), fullPage: true });
});

await check('search finds flate by "gzip", with JavaScript off', async () => {
  const page = await open(noScript, '/');
  await page.fill('header form.search input[name=q]', 'gzip');
  await page.press('header form.search input[name=q]', 'Enter');
  await page.waitForURL(/\/search\?q=gzip/);
  await checkShell(page);
  const names = await texts(page.locator('ul.packages a.name'));
  assert.ok(names.includes('wharf:flate'), `results: ${names}`);
  assert.ok(!names.includes('wharf:brotli'), `results: ${names}`);
  await page.screenshot({ path: join(shots, 'search.png'), fullPage: true });
});

await check('the filters keep components implementing an interface', async () => {
  const page = await open(noScript, '/search');
  await page.selectOption('form.filters select[name=kind]', 'component');
  await page.fill('form.filters input[name=implements]', 'wharf:compression/codec@1');
  await page.click('form.filters button[type=submit]');
  await page.waitForURL(/implements=wharf%3Acompression%2Fcodec%401/);
  const names = await texts(page.locator('ul.packages a.name'));
  // mallory:scripted is flate republished, so it implements the codec too.
  assert.deepEqual(names.sort(), ['mallory:scripted', 'wharf:brotli', 'wharf:flate']);
});

await check('the runs-on filter keeps what a Worker can run', async () => {
  const page = await open(noScript, '/search');
  await page.selectOption('form.filters select[name=runs_on]', 'workers');
  await page.click('form.filters button[type=submit]');
  await page.waitForURL(/runs_on=workers/);
  assert.deepEqual(await texts(page.locator('ul.packages a.name')), ['wharf:edge']);
  assert.match(await page.locator('p.count').innerText(), /that run on Cloudflare Workers/);
  const proxy = await open(noScript, '/search?runs_on=proxy');
  assert.deepEqual((await texts(proxy.locator('ul.packages a.name'))).sort(), ['acme:host-probe', 'wharf:edge']);
});

await check('the package page of wharf:compression lists flate and brotli as implementors', async () => {
  const page = await open(desktop, '/packages/wharf/compression');
  assert.equal(await page.title(), 'wharf:compression@2.0.0 · Wharf');
  const implementors = await texts(page.locator('#implementors a.name'));
  assert.ok(implementors.includes('wharf:flate'), `implementors: ${implementors}`);
  assert.ok(implementors.includes('wharf:brotli'), `implementors: ${implementors}`);
  const wit = await page.locator('pre.wit').innerText();
  assert.match(wit, /^package wharf:compression@2\.0\.0;/);
  assert.match(wit, /interface codec \{/);
  assert.ok(await page.locator('.versions li').count() >= 3);
  await page.screenshot({ path: join(shots, 'package.png'), fullPage: true });
});

await check('interface links in the WIT lead to the right package page', async () => {
  const page = await open(desktop, '/packages/wharf/flate');
  const link = page.locator('pre.wit a.r', { hasText: 'wharf:compression/codec@1.1.0' }).first();
  await link.click();
  await page.waitForURL(/\/packages\/wharf\/compression\/1\.1\.0#interface-codec$/);
  assert.equal(await page.title(), 'wharf:compression@1.1.0 · Wharf');
  assert.equal(await page.evaluate(() => document.querySelector(':target')?.textContent), 'codec');
  assert.ok(await page.locator('#interface-codec').isVisible());
  // A `use types.{...}` inside the package leads to the interface on the same page.
  await page.locator('pre.wit a.r[href="#interface-types"]').first().click();
  await page.waitForURL(/#interface-types$/);
  assert.equal(await page.evaluate(() => document.querySelector(':target')?.textContent), 'types');
});

await check('the diff of wharf:compression 1.0.0 → 2.0.0 says breaking and names the change', async () => {
  // Reached through the compare form on the package page, with JavaScript off.
  const page = await open(noScript, '/packages/wharf/compression');
  await page.selectOption('form.compare select[name=from]', '1.0.0');
  await page.selectOption('form.compare select[name=to]', '2.0.0');
  await page.click('form.compare button');
  await page.waitForURL(/\/packages\/wharf\/compression\/diff\?from=1\.0\.0&to=2\.0\.0$/);
  await checkShell(page);
  const verdict = await page.locator('.verdict').innerText();
  assert.match(verdict, /^Breaking/);
  assert.match(verdict, /function codec\.compress changed/);
  const changes = await texts(page.locator('ul.changes li .what code'));
  assert.ok(changes.includes('function codec.decompress'), `changes: ${changes}`);
  await page.screenshot({ path: join(shots, 'diff.png'), fullPage: true });
});

await check('a description with <script> is shown as text and never runs', async () => {
  assert.ok(scripted, 'WHARF_SCRIPTED_DESCRIPTION is set');
  const page = await open(desktop, '/packages/mallory/scripted');
  assert.equal(await page.title(), 'mallory:scripted@1.0.0 · Wharf');
  assert.equal(await page.locator('.lead').innerText(), scripted);
  assert.equal(await page.evaluate(() => window.__wharfOwned), undefined);
  for (const path of ['/', '/search?q=nothing', '/namespaces/mallory']) {
    const listed = await open(desktop, path);
    const description = listed.locator('ul.packages li', { hasText: 'mallory:scripted' }).locator('.description');
    assert.equal(await description.innerText(), scripted, path);
    assert.equal(await listed.evaluate(() => window.__wharfOwned), undefined, path);
    assert.equal(await listed.locator('b').count(), 0, `${path}: markup in metadata stays text`);
  }
  assert.deepEqual(dialogs, []);
});

await check('the deployable page draws the composition graph', async () => {
  const page = await open(desktop, '/packages/wharf/edge');
  await page.click('text=See the composition graph');
  await page.waitForURL(/\/packages\/wharf\/edge\/1\.0\.0\/deployable$/);
  await checkShell(page);
  assert.equal(await page.locator('svg.graph.wide g.node').count(), 5);
  assert.equal(await page.locator('svg.graph.wide g.edge').count(), 4);
  const labels = await texts(page.locator('svg.graph.wide g.edge > text'));
  for (const contract of ['wharf:auth', 'wharf:schema', 'wharf:transform', 'wharf:compression']) {
    assert.ok(labels.some((l) => l.startsWith(`${contract}@1.`)), `edge labels: ${labels}`);
  }
  const nodes = await page.locator('svg.graph.wide g.node').allTextContents();
  assert.ok(nodes.join(' ').includes('wharf:flate'), `nodes: ${nodes}`);
  await page.screenshot({ path: join(shots, 'deployable.png'), fullPage: true });
  // Each box links to its component's page.
  await page.locator('svg.graph.wide a[href="/packages/wharf/flate/1.1.0"]').click();
  await page.waitForURL(/\/packages\/wharf\/flate\/1\.1\.0$/);
});

await check('a version page says which targets run it, and what is in the way', async () => {
  const page = await open(desktop, '/packages/wharf/edge');
  const runs = await page.locator('#targets li.runs').evaluateAll((ls) => ls.map((l) => l.dataset.target));
  assert.deepEqual(runs.sort(), ['jco', 'proxy', 'workers']);
  const command = page.locator('#targets li.refused[data-target=command]');
  assert.match(await command.innerText(), /It does not export wasi:cli\/run@0\.2\.x/);
  // The host-probe guest: sockets and a filesystem, which a Worker does not have.
  const probe = await open(desktop, '/packages/acme/host-probe');
  assert.deepEqual(
    await probe.locator('#targets li.runs').evaluateAll((ls) => ls.map((l) => l.dataset.target).sort()),
    ['jco', 'proxy'],
  );
  const workers = probe.locator('#targets li.refused[data-target=workers]');
  const inTheWay = await texts(workers.locator('ul.in-the-way code'));
  for (const i of ['wasi:sockets/tcp@0.2.6', 'wasi:filesystem/preopens@0.2.6', 'wasi:http/outgoing-handler@0.2.12']) {
    assert.ok(inTheWay.includes(i), `in the way: ${inTheWay}`);
  }
  assert.ok(!inTheWay.some((i) => i.startsWith('wasi:cli/') || i.startsWith('wasi:io/')), `in the way: ${inTheWay}`);
  await probe.locator('#targets').screenshot({ path: join(shots, 'targets.png') });
});

await check('unknown packages and versions answer a 404 page', async () => {
  const page = await open(desktop, '/packages/wharf/no-such-thing', 404);
  assert.equal(await page.title(), 'Not found · Wharf');
  assert.match(await page.locator('.message').innerText(), /there is no package wharf:no-such-thing/);
  await open(desktop, '/packages/wharf/flate/9.9.9', 404);
});

await check('pages fit a 390px phone without sideways scrolling', async () => {
  const pages = {
    'home-phone.png': '/',
    'package-phone.png': '/packages/wharf/compression',
    'targets-phone.png': '/packages/acme/host-probe',
    'deployable-phone.png': '/packages/wharf/edge/1.0.0/deployable',
    'diff-phone.png': '/packages/wharf/compression/diff?from=1.0.0&to=2.0.0',
  };
  for (const [shot, path] of Object.entries(pages)) {
    const page = await open(phone, path);
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 390, `${path} is ${width}px wide`);
    if (path.endsWith('/deployable')) {
      // The phone gets the tall drawing, whole on screen.
      assert.ok(!(await page.locator('svg.graph.wide').isVisible()));
      const box = await page.locator('svg.graph.tall').boundingBox();
      assert.ok(box && box.width <= 390, `the tall graph is ${box?.width}px wide`);
      assert.equal(await page.locator('svg.graph.tall g.node').count(), 5);
    }
    await page.screenshot({ path: join(shots, shot), fullPage: shot !== 'package-phone.png' });
  }
});

await browser.close();
console.log(`\nscreenshots in ${shots}`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
