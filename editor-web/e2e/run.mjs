#!/usr/bin/env node
// Browser tests of the editor against the real `kairos serve`, driven by playwright-core
// with Debian's chromium (/usr/bin/chromium, or $CHROMIUM).
//
// A fresh SQLite database in a temp dir, a free port, the admin from the environment;
// then, as a marketer would: sign in, create an API key, build the abandoned-cart
// journey from an empty canvas only by dragging steps from the palette, connecting
// ports with the mouse and filling forms, see a validation problem on a step and fix
// it, set the workspace's quiet hours and a frequency cap on the settings page, publish,
// start runs through the API, watch the counts on the canvas, run the
// test panel, save a screenshot (e2e-artifacts/canvas.png); on a second journey, a
// webhook send with success statuses, a value saved from its response and a `failed`
// port. Last, the audience: three shoppers seeded with one `POST /v1/batch` (two of them
// purchased); on the Segments page a segment built with the condition builder only
// ("performed purchase, number of times ≥ 1"), its live preview counting the purchasers,
// a second row's problem (a total without a property) shown on the row, fixed, removed;
// saved, the stored condition and the members (evaluated in the background) checked
// through the API; a third journey whose trigger is "entered segment" chosen in its form;
// the Lifecycle page's stage counts matching the report, a stage rule saved from its form
// (GET /v1/audience) that moves the next buyer to `customer`. Any console error or page
// error fails the run (and is printed with a failing step). Prints `e2e: N passed, M failed`.
//
//   npm run e2e              (needs ../target/debug/kairos built with the editor embedded)
//   KAIROS_BIN=… CHROMIUM=… HEADED=1 npm run e2e

import { chromium } from 'playwright-core';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const web = resolve(here, '..');
const root = resolve(web, '..');
const kairosBin = process.env.KAIROS_BIN ?? join(root, 'target/debug/kairos');
const chromiumBin = process.env.CHROMIUM ?? '/usr/bin/chromium';
const artifacts = join(web, 'e2e-artifacts');
const ADMIN = { email: 'admin-e2e@example.com', password: 'e2e-secret-123' };
const VIEWPORT = { width: 1280, height: 800 };
const T = 10_000; // default wait for a condition

// ----- a tiny runner: ordered steps; after a failure the rest are skipped -----
const steps = [];
const step = (name, fn) => steps.push({ name, fn });
class Check extends Error {}
function expect(cond, message) { if (!cond) throw new Check(message); }

// ----- the server -----
function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => ok(port)); });
  });
}

async function startServer() {
  if (!existsSync(kairosBin)) throw new Error(`${kairosBin} is missing: run \`cargo build --bin kairos\` after \`npm run build\``);
  const dir = mkdtempSync(join(tmpdir(), 'kairos-e2e-'));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const log = [];
  const env = { ...process.env, KAIROS_ADMIN_EMAIL: ADMIN.email, KAIROS_ADMIN_PASSWORD: ADMIN.password, RUST_LOG: process.env.RUST_LOG ?? 'warn', NO_COLOR: '1' };
  for (const k of ['KAIROS_API_KEY', 'KAIROS_BIND', 'KAIROS_DATABASE_URL']) delete env[k];
  const child = spawn(kairosBin, ['serve', '--bind', `127.0.0.1:${port}`, '--database-url', `sqlite://${dir}/kairos.db`], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  for (const s of [child.stdout, child.stderr]) s.on('data', (d) => log.push(String(d)));
  let exited = null;
  child.on('exit', (code) => { exited = code; });
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exited !== null) throw new Error(`kairos serve exited (${exited}):\n${log.join('')}`);
    try { if ((await fetch(`${base}/readyz`)).ok) break; } catch { /* not yet */ }
    if (Date.now() > deadline) throw new Error(`kairos serve did not become ready:\n${log.join('')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  // The editor must be the built one, not the placeholder of a build without dist/.
  const index = await (await fetch(`${base}/`)).text();
  if (index.includes('content="not-built"')) throw new Error('the binary embeds no editor: run `npm run build`, then `cargo build --bin kairos`');
  return {
    base, log,
    async stop() {
      if (exited === null) {
        child.kill('SIGTERM');
        await new Promise((r) => { const t = setTimeout(() => { child.kill('SIGKILL'); r(); }, 5000); child.once('exit', () => { clearTimeout(t); r(); }); });
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ----- helpers on the page -----
const tid = (id) => `[data-testid="${id}"]`;

async function centre(locator) {
  await locator.scrollIntoViewIfNeeded();
  const b = await locator.boundingBox();
  if (!b) throw new Check(`not visible: ${locator}`);
  return { x: b.x + b.width / 2, y: b.y + b.height / 2 };
}

/** Drag a palette item onto the canvas at (x, y) relative to the canvas' top-left corner. */
async function dragFromPalette(page, type, x, y) {
  const before = await page.locator('.react-flow__node').count();
  const from = await centre(page.locator(tid(`palette-${type}`)));
  const canvas = await page.locator(tid('canvas')).boundingBox();
  await page.mouse.move(from.x, from.y);
  await page.mouse.down();
  await page.mouse.move(canvas.x + x, canvas.y + y, { steps: 8 });
  await page.mouse.up();
  await page.locator('.react-flow__node').nth(before).waitFor({ timeout: T });
  if (process.env.E2E_DEBUG) await page.screenshot({ path: join(artifacts, `drop-${type}-${before}.png`) });
  // The new step is selected and its form open.
  await page.locator(tid('node-form')).waitFor({ timeout: T });
}

/** Connect output port `port` of `source` to the input of `target` with the mouse. */
async function connect(page, source, port, target) {
  const from = await centre(page.locator(`.react-flow__node[data-id="${source}"] .react-flow__handle.source[data-handleid="${port}"]`));
  const to = await centre(page.locator(`.react-flow__node[data-id="${target}"] .react-flow__handle.target`));
  await page.mouse.move(from.x, from.y);
  await page.mouse.down();
  await page.mouse.move((from.x + to.x) / 2, (from.y + to.y) / 2, { steps: 5 });
  await page.mouse.move(to.x, to.y, { steps: 5 });
  await page.mouse.up();
  if (process.env.E2E_DEBUG) await page.screenshot({ path: join(artifacts, `connect-${source}-${port}.png`) });
  await page.locator(`.react-flow__edge[data-id="${source}->${port}"], .react-flow__edge[data-testid="rf__edge-${source}->${port}"]`).first()
    .waitFor({ timeout: T }).catch(() => { throw new Check(`no connection ${source}.${port} → ${target} after the drag`); });
}

/** Select a step by clicking its header on the canvas. */
async function selectNode(page, id) {
  await page.locator(`.react-flow__node[data-id="${id}"] .kn-head`).click();
  await page.locator(`${tid('node-form')}[aria-label$=" ${id}"]`).waitFor({ timeout: T });
}

/** Rename the selected step (its form is open). */
async function rename(page, id) {
  await page.locator(tid('node-id')).fill(id);
  await page.locator(`.react-flow__node[data-id="${id}"]`).waitFor({ timeout: T });
}

async function waitSaved(page) {
  await page.locator(tid('save-state')).filter({ hasText: 'All changes saved' }).waitFor({ timeout: T });
}

/** Controls a keyboard or screen-reader user could not name or reach, on the current page. */
async function unlabelledControls(page) {
  return page.evaluate(() => {
    const bad = [];
    const nameOf = (el) => {
      const aria = el.getAttribute('aria-label')?.trim();
      if (aria) return aria;
      const by = el.getAttribute('aria-labelledby');
      if (by) { const t = by.split(/\s+/).map((i) => document.getElementById(i)?.textContent ?? '').join(' ').trim(); if (t) return t; }
      if (el.id) { const l = document.querySelector(`label[for="${CSS.escape(el.id)}"]`); if (l?.textContent?.trim()) return l.textContent.trim(); }
      const wrap = el.closest('label'); if (wrap?.textContent?.trim()) return wrap.textContent.trim();
      if (['BUTTON', 'A'].includes(el.tagName) || el.getAttribute('role') === 'button' || el.getAttribute('role') === 'tab') {
        if (el.textContent?.trim()) return el.textContent.trim();
      }
      return el.getAttribute('title')?.trim() || '';
    };
    const visible = (el) => { const r = el.getBoundingClientRect(); const cs = getComputedStyle(el); return r.width > 0 && r.height > 0 && cs.visibility !== 'hidden' && cs.display !== 'none'; };
    const controls = document.querySelectorAll('button, a[href], input:not([type=hidden]), select, textarea, [role=button], [role=tab]');
    for (const el of controls) {
      if (el.closest('[aria-hidden="true"]')) continue;
      const isFile = el.tagName === 'INPUT' && el.type === 'file';
      if (!visible(el) && !isFile) continue;
      const what = `${el.tagName.toLowerCase()}${el.getAttribute('data-testid') ? `[data-testid=${el.getAttribute('data-testid')}]` : ''}${el.className && typeof el.className === 'string' ? `.${el.className.split(' ').join('.')}` : ''}`;
      if (!nameOf(el)) bad.push(`${what}: no accessible name`);
      const disabled = el.disabled || el.getAttribute('aria-disabled') === 'true';
      if (!disabled && !isFile && el.tabIndex < 0 && !el.closest('.react-flow__handle')) bad.push(`${what}: not reachable with Tab`);
    }
    return bad;
  });
}

async function noOverflow(page, where) {
  const { w, h } = await page.evaluate(() => ({ w: document.documentElement.scrollWidth, h: document.documentElement.scrollHeight }));
  expect(w <= VIEWPORT.width, `${where}: the page is ${w}px wide at ${VIEWPORT.width}×${VIEWPORT.height} (horizontal scrolling)`);
  return h;
}

// ----- the run -----
const started = Date.now();
const state = {};
let server;
let context;
let page;
const consoleErrors = [];
/** Console errors the test causes on purpose (a refused sign-in), matched and consumed once. */
const expectedErrors = [];

step('start kairos serve on a fresh SQLite database and open chromium at 1280×800', async () => {
  server = await startServer();
  const profile = mkdtempSync(join(tmpdir(), 'pw-'));
  state.profile = profile;
  context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumBin,
    headless: !process.env.HEADED,
    viewport: VIEWPORT,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'].filter((a) => a !== '--headless' || !process.env.HEADED),
  });
  page = context.pages()[0] ?? await context.newPage();
  page.setDefaultTimeout(T);
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const text = `${m.text()} (${m.location().url ?? ''})`;
    const i = expectedErrors.findIndex((re) => re.test(text));
    if (i >= 0) { expectedErrors.splice(i, 1); return; }
    consoleErrors.push(`console: ${text}`);
  });
  page.on('pageerror', (e) => consoleErrors.push(`page error: ${e.stack ?? e.message}`));
});

step('sign in (a wrong password is refused first)', async () => {
  // Not signed in yet: the editor asks who is signed in, gets 401 and shows the login page.
  expectedErrors.push(/401.*\/v1\/session/);
  await page.goto(`${server.base}/`);
  await page.waitForURL('**/login');
  expect(await unlabelledControls(page).then((b) => b.length === 0), `login page: ${await unlabelledControls(page)}`);
  await page.fill(tid('login-email'), ADMIN.email);
  await page.fill(tid('login-password'), 'wrong-password');
  expectedErrors.push(/401.*\/v1\/session/);
  await page.click(tid('login-submit'));
  await page.locator(tid('login-error')).filter({ hasText: 'Wrong email or password' }).waitFor();
  await page.fill(tid('login-password'), ADMIN.password);
  await page.click(tid('login-submit'));
  await page.getByRole('heading', { name: 'Journeys' }).waitFor();
  expect(expectedErrors.length === 0, `the refused sign-ins did not log the expected 401s (${expectedErrors.length} left)`);
  const cookies = await context.cookies(server.base);
  const session = cookies.find((c) => c.name === 'kairos_session');
  expect(session && session.httpOnly && session.sameSite === 'Strict', `session cookie: ${JSON.stringify(session)}`);
});

step('create an API key on the settings page', async () => {
  await page.click(tid('nav-settings'));
  await page.fill(tid('api-key-name'), 'e2e ingestion');
  await page.click(tid('api-key-create'));
  const secret = await page.locator(`${tid('api-key-secret')} code`).textContent();
  expect(/^kairos_[0-9a-f]{20,}$/.test(secret ?? ''), `the new key is shown once: ${secret}`);
  state.key = secret;
  await page.locator(tid('api-key-table')).getByRole('cell', { name: 'e2e ingestion', exact: true }).waitFor();
  // A second key, revoked at once (after confirming).
  await page.click('text=Done');
  await page.fill(tid('api-key-name'), 'leaked');
  await page.click(tid('api-key-create'));
  const leaked = await page.locator(`${tid('api-key-secret')} code`).textContent();
  page.once('dialog', (d) => void d.accept());
  await page.getByRole('button', { name: 'Revoke leaked' }).click();
  await page.locator(tid('api-key-table')).getByRole('row').filter({ hasText: 'leaked' }).filter({ hasText: 'revoked' }).waitFor();
  const refused = await fetch(`${server.base}/v1/workflows`, { headers: { Authorization: `Bearer ${leaked}` } });
  expect(refused.status === 401, `a revoked key is refused: ${refused.status}`);
  const bad = await unlabelledControls(page);
  expect(bad.length === 0, `settings page: ${bad.join('; ')}`);
  await noOverflow(page, 'settings');
  // The key works for the API.
  const r = await api('GET', '/v1/workflows');
  expect(r.status === 200, `GET /v1/workflows with the new key: ${r.status}`);
});

step('set quiet hours and a frequency cap on the settings page', async () => {
  const section = page.locator(tid('delivery-settings'));
  await section.getByRole('heading', { name: 'Quiet hours and frequency caps' }).waitFor();
  await page.check(tid('quiet-enabled'));
  await page.fill(tid('quiet-start'), '22:00');
  await page.fill(tid('quiet-end'), '07:30');
  await page.locator(tid('quiet-window')).filter({ hasText: '22:00–07:30 (overnight)' }).waitFor();
  await page.selectOption(tid('quiet-timezone'), 'Europe/Berlin');
  await page.click(tid('cap-add'));
  await page.fill(tid('cap-0-max'), '2');
  await page.fill(tid('cap-0-period'), '1');
  await page.click(tid('delivery-save'));
  await page.locator(tid('delivery-message')).filter({ hasText: 'Saved (version 1)' }).waitFor();
  const saved = (await api('GET', '/v1/settings/delivery')).json;
  const want = { quiet_hours: { enabled: true, start: '22:00', end: '07:30', timezone: 'Europe/Berlin', behaviour: 'wait' },
    frequency_caps: { behaviour: 'wait', limits: [{ channel: 'email', max: 2, period: '1d' }] } };
  expect(JSON.stringify({ quiet_hours: saved.quiet_hours, frequency_caps: saved.frequency_caps }) === JSON.stringify(want) && saved.version === 1,
    `saved delivery settings: ${JSON.stringify(saved)}`);
  // A second cap for the same channel and period is refused, shown on its field; nothing is stored.
  await page.click(tid('cap-add'));
  await page.fill(tid('cap-1-max'), '5');
  await page.fill(tid('cap-1-period'), '1');
  expectedErrors.push(/400.*\/v1\/settings\/delivery/);
  await page.click(tid('delivery-save'));
  await section.locator('.inline-error').filter({ hasText: 'already a cap for email over 1d' }).first().waitFor();
  expect((await api('GET', '/v1/settings/delivery')).json.version === 1, 'the refused change was not stored');
  expect(expectedErrors.length === 0, 'the refused save did not log the expected 400');
  const bad = await unlabelledControls(page);
  expect(bad.length === 0, `settings page: ${bad.join('; ')}`);
  await noOverflow(page, 'settings with caps');
  // Back to no quiet hours and no caps, so the runs below go out at any hour.
  await page.getByRole('button', { name: 'Remove cap 2' }).click();
  await page.getByRole('button', { name: 'Remove cap 1' }).click();
  await page.uncheck(tid('quiet-enabled'));
  await page.click(tid('delivery-save'));
  await page.locator(tid('delivery-message')).filter({ hasText: 'Saved (version 2)' }).waitFor();
});

step('create a topic on the settings page', async () => {
  await page.fill(tid('topic-name'), 'Cart reminders');
  const id = await page.locator(tid('topic-id')).inputValue();
  expect(id === 'cart-reminders', `the id is suggested from the name: ${id}`);
  await page.fill(tid('topic-description'), 'Nudges about what is left in the cart');
  await page.click(tid('topic-create'));
  await page.locator(tid('topic-table')).getByRole('cell', { name: 'cart-reminders', exact: true }).waitFor();
  const r = await api('GET', '/v1/topics');
  expect(r.status === 200 && r.json.data.some((t) => t.id === 'cart-reminders' && t.name === 'Cart reminders'), `GET /v1/topics: ${r.text}`);
  const bad = await unlabelledControls(page);
  expect(bad.length === 0, `settings page: ${bad.join('; ')}`);
  await noOverflow(page, 'settings');
});

step('create a footer partial on the templates page: preview, a refused edit, a new version', async () => {
  await page.click(tid('nav-templates'));
  await page.getByRole('heading', { name: 'Templates' }).waitFor();
  await page.fill(tid('new-template-name'), 'Footer');
  await page.selectOption(tid('new-template-kind'), 'partial');
  await page.click(tid('new-template'));
  await page.fill(tid('template-content'), '<p>Sent by Northwind to {{contact.email}}</p>');
  await page.click(tid('template-preview-run'));
  const frame = page.locator(`${tid('template-preview-output')} iframe`);
  await frame.waitFor();
  const previewed = await frame.getAttribute('srcdoc');
  expect(previewed === '<p>Sent by Northwind to </p>', `the unsaved partial renders for nobody: ${previewed}`);
  await page.click(tid('template-save'));
  await page.waitForURL('**/templates/footer');
  await page.locator(tid('template-version')).filter({ hasText: 'version 1' }).waitFor();
  // A text that does not compile is refused, with the problem on its field; nothing is saved.
  await page.fill(tid('template-content'), '<p>{{#if contact.vip}}VIP</p>');
  expectedErrors.push(/422.*\/v1\/templates\/footer/);
  await page.click(tid('template-save'));
  await page.locator('.field-error').filter({ hasText: 'does not compile' }).waitFor();
  await page.fill(tid('template-content'), '<p>Sent by Northwind to {{contact.email}}.</p>');
  await page.click(tid('template-save'));
  await page.locator(tid('template-version')).filter({ hasText: 'version 2' }).waitFor();
  await page.locator(tid('template-versions')).getByText('version 1', { exact: false }).waitFor();
  const bad = await unlabelledControls(page);
  expect(bad.length === 0, `template page: ${bad.join('; ')}`);
  await noOverflow(page, 'template page');
});

async function api(method, path, body) {
  const res = await fetch(`${server.base}${path}`, {
    method, headers: { Authorization: `Bearer ${state.key}`, 'Content-Type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, json, text };
}

step('teach the catalog a few events and contacts through the API', async () => {
  // What a shop would already have sent: the forms suggest these names.
  for (const [id, phone] of [['ann', '+15550100'], ['bob', null], ['cy', null]]) {
    const traits = { email: `${id}@example.com`, first_name: id[0].toUpperCase() + id.slice(1), ...(phone ? { phone } : {}) };
    const r = await api('POST', '/v1/identify', { userId: id, traits });
    expect(r.status < 300, `identify ${id}: ${r.status} ${r.text}`);
  }
  const r = await api('POST', '/v1/track', { userId: 'zed', event: 'order_completed', properties: { cart_id: 'old', total: 10 }, messageId: 'seed-1' });
  expect(r.status < 300, `track: ${r.status} ${r.text}`);
});

step('create a journey: the canvas starts empty', async () => {
  await page.click('a[href="/"]');
  await page.fill(tid('new-journey-name'), 'Abandoned cart');
  await page.click(tid('create-journey'));
  await page.waitForURL('**/journeys/abandoned-cart');
  await page.locator(tid('canvas')).waitFor();
  expect(await page.locator('.react-flow__node').count() === 0, 'a new journey has no steps');
  await page.locator(tid('palette-trigger')).waitFor();
});

step('drag every step from the palette onto the canvas', async () => {
  // Columns: left for the happy path, right for the "ordered" exit.
  await dragFromPalette(page, 'trigger', 260, 60);
  await page.selectOption(tid('trigger-type'), 'event');
  await page.fill(tid('trigger-event'), 'cart_updated');
  await page.fill(tid('trigger-correlation'), 'cart_id');
  expect(await page.locator(tid('palette-trigger')).count() === 0, 'the palette offers a trigger only while there is none');

  await dragFromPalette(page, 'wait_for_event', 260, 190);
  await rename(page, 'wait_for_order');
  // The event picker offers what the server has seen (GET /v1/catalog/events).
  expect(await page.locator('datalist option[value="order_completed"]').count() > 0, 'the catalog suggests order_completed');
  await page.fill(tid('wait-event'), 'order_completed');
  await page.fill(tid('wait-timeout'), '1');
  await page.selectOption(tid('wait-timeout-unit'), 'h');

  await dragFromPalette(page, 'send', 200, 330);
  await rename(page, 'send_reminder');
  // The subject and body are left empty for now: a problem the server reports on the step.

  await dragFromPalette(page, 'branch', 200, 470);
  await rename(page, 'has_phone');
  await page.fill(tid('rule-0-name'), 'sms_ok');
  // The operand suggestions include the contact attributes seen (GET /v1/catalog/attributes).
  expect(await page.locator('datalist option[value="contact.phone"]').count() > 0, 'the catalog suggests contact.phone');
  await page.fill(tid('condition-rule-0-condition-left'), 'contact.phone');
  await page.selectOption(tid('condition-rule-0-condition-op'), 'exists');

  await dragFromPalette(page, 'delay', 120, 600);
  await rename(page, 'wait_a_day');
  await page.fill(tid('delay-duration'), '1');
  await page.selectOption(tid('delay-duration-unit'), 'd');

  await dragFromPalette(page, 'exit', 330, 700);
  await rename(page, 'exit_no_order');

  await dragFromPalette(page, 'exit', 560, 330);
  await rename(page, 'exit_ordered');

  const ids = await page.locator('.react-flow__node').evaluateAll((els) => els.map((e) => e.getAttribute('data-id')).sort());
  expect(JSON.stringify(ids) === JSON.stringify(['exit_no_order', 'exit_ordered', 'has_phone', 'send_reminder', 'trigger', 'wait_a_day', 'wait_for_order']), `steps on the canvas: ${ids}`);
});

step('connect the ports with the mouse', async () => {
  await connect(page, 'trigger', 'next', 'wait_for_order');
  await connect(page, 'wait_for_order', 'received', 'exit_ordered');
  await connect(page, 'wait_for_order', 'timed_out', 'send_reminder');
  await connect(page, 'send_reminder', 'next', 'has_phone');
  await connect(page, 'has_phone', 'sms_ok', 'wait_a_day');
  await connect(page, 'has_phone', 'else', 'exit_no_order');
  await connect(page, 'wait_a_day', 'next', 'exit_no_order');
  expect(await page.locator('.react-flow__edge').count() === 7, `7 connections, found ${await page.locator('.react-flow__edge').count()}`);
});

step('see the validation problem on the send step, then fix it in its form', async () => {
  await waitSaved(page);
  const problem = page.locator(tid('node-problem-send_reminder'));
  await problem.waitFor();
  expect(await page.locator('.react-flow__node[data-id="send_reminder"] .kn-error').count() === 1, 'the send step is marked as having a problem');
  expect(await page.locator(tid('publish')).isDisabled(), 'publish is disabled while there are problems');
  // The problems list names the step; clicking it selects the step and opens its form.
  await page.click(tid('tab-problems'));
  const item = page.locator(`${tid('problem-item')}[data-node="send_reminder"]`).first();
  await item.waitFor();
  await item.click();
  await page.locator(`${tid('node-form')}[aria-label$=" send_reminder"]`).waitFor();
  await page.fill(tid('send-subject'), '');
  await page.locator(tid('send-subject')).pressSequentially('You left something behind, ');
  await page.click(tid('insert-contact.first_name'));
  await page.waitForFunction(
    (sel) => document.querySelector(sel)?.value.endsWith('{{contact.first_name}}'),
    `[data-testid="send-subject"]`,
  );
  await page.fill(tid('send-body'), '<p>Your cart is waiting.</p>');
  // The library's footer, inserted where the caret is.
  await page.click(tid('insert-partial-footer'));
  await page.waitForFunction(
    (sel) => document.querySelector(sel)?.value === '<p>Your cart is waiting.</p>{{> footer}}',
    `[data-testid="send-body"]`,
  );
  // An extra email header: a bad name is flagged at once, then corrected.
  await page.click(tid('send-email-headers-add'));
  await page.fill(tid('send-email-headers-0-key'), 'X Campaign');
  await page.fill(tid('send-email-headers-0-value'), 'cart-{{contact.first_name}}');
  await page.locator(tid('send-email-header-problem')).filter({ hasText: 'a space' }).waitFor();
  if (process.env.E2E_DEBUG) await page.screenshot({ path: join(artifacts, 'email-headers.png') });
  await page.fill(tid('send-email-headers-0-key'), 'X-Campaign');
  await page.locator(tid('send-email-header-problem')).waitFor({ state: 'detached' });
  // A marketing message about a topic; a transactional one has no topic to choose.
  await page.selectOption(tid('send-topic'), 'cart-reminders');
  await page.check(tid('send-transactional'));
  await page.locator(tid('send-topic')).waitFor({ state: 'detached' });
  await page.uncheck(tid('send-transactional'));
  await page.selectOption(tid('send-topic'), 'cart-reminders');
  const subject = await page.locator(tid('send-subject')).inputValue();
  expect(subject === 'You left something behind, {{contact.first_name}}', `the subject is ${JSON.stringify(subject)}`);
  await waitSaved(page);
  await problem.waitFor({ state: 'detached' });
  await page.click(tid('tab-problems'));
  await page.locator(tid('problems-none')).waitFor();
  expect(!(await page.locator(tid('publish')).isDisabled()), 'publish is enabled once the problems are fixed');
});

step('preview the reminder for a stored contact', async () => {
  await selectNode(page, 'send_reminder');
  await page.fill(tid('preview-contact'), 'ann');
  await page.click(tid('preview-run'));
  const out = page.locator(tid('preview-output'));
  await out.filter({ hasText: 'You left something behind, Ann' }).waitFor();
  expect((await out.textContent()).includes('ann@example.com'), `preview shows the address: ${await out.textContent()}`);
  expect((await out.textContent()).includes('X-Campaign: cart-Ann'), `preview shows the email header: ${await out.textContent()}`);
  const body = await out.locator('iframe').getAttribute('srcdoc');
  expect(body === '<p>Your cart is waiting.</p><p>Sent by Northwind to ann@example.com.</p>', `the footer partial is rendered: ${body}`);
});

step('publish version 1', async () => {
  await page.click(tid('publish'));
  await page.locator(tid('journey-status')).filter({ hasText: 'live' }).waitFor();
  expect((await page.locator(tid('journey-status')).textContent()).includes('v1'), 'live version 1');
  const r = await api('GET', '/v1/workflows/abandoned-cart/export');
  expect(r.status === 200 && r.json.trigger.event === 'cart_updated' && r.json.nodes.length === 6, `the published journey: ${r.text}`);
  const reminder = r.json.nodes.find((n) => n.id === 'send_reminder');
  expect(JSON.stringify(reminder.message.headers) === '{"X-Campaign":"cart-{{contact.first_name}}"}', `the email's headers: ${JSON.stringify(reminder.message)}`);
  expect(reminder.topic === 'cart-reminders' && reminder.transactional === undefined, `the reminder's consent: ${JSON.stringify(reminder)}`);
});

step('start runs through the API and watch the counts on the canvas', async () => {
  const track = (userId, event, properties, messageId) => api('POST', '/v1/track', { userId, event, properties, messageId });
  for (const [who, cart] of [['ann', 'c-ann'], ['bob', 'c-bob'], ['cy', 'c-cy']]) {
    const r = await track(who, 'cart_updated', { cart_id: cart, item_count: 2 }, `cart-${who}`);
    expect(r.status < 300, `track cart_updated: ${r.status} ${r.text}`);
  }
  // Cy orders: that run leaves through `received`.
  const r = await track('cy', 'order_completed', { cart_id: 'c-cy', total: 42 }, 'order-cy');
  expect(r.status < 300, `track order_completed: ${r.status} ${r.text}`);
  // The counts refresh every few seconds.
  await page.locator(tid('node-stats-wait_for_order')).filter({ hasText: 'waiting 2' }).waitFor({ timeout: 15_000 });
  await page.locator(tid('node-stats-wait_for_order')).filter({ hasText: 'in 3' }).waitFor({ timeout: 15_000 });
  await page.locator(tid('node-stats-exit_ordered')).filter({ hasText: 'in 1' }).waitFor({ timeout: 15_000 });
  // The contacts waiting there, and a run's timeline.
  await page.click(tid('node-stats-wait_for_order'));
  const list = page.locator(tid('waiting-list'));
  await list.getByRole('button', { name: 'ann' }).waitFor();
  await list.getByRole('button', { name: 'bob' }).waitFor();
  await list.getByRole('button', { name: 'ann' }).click();
  await page.locator(tid('run-timeline')).filter({ hasText: 'wait_for_order' }).filter({ hasText: 'for order_completed until' }).waitFor();
  await page.click(tid('tab-live'));
  await page.locator(tid('live-totals')).filter({ hasText: 'Started3' }).waitFor().catch(async () => {
    throw new Check(`live totals: ${await page.locator(tid('live-totals')).textContent()}`);
  });
});

step('run the test panel: the path is highlighted and the timeline listed', async () => {
  await page.click(tid('tab-test'));
  await page.fill(tid('test-contact-id'), 'dee');
  await page.fill(tid('test-attr-0-value'), 'dee@example.com');
  await page.click(tid('test-attr-add'));
  await page.fill(tid('test-attr-1-key'), 'phone');
  await page.fill(tid('test-attr-1-value'), '+15550199');
  expect(await page.inputValue(tid('test-event-0-name')) === 'cart_updated', 'the first event is the trigger event');
  await page.click(tid('test-event-0-prop-add'));
  await page.fill(tid('test-event-0-prop-0-key'), 'cart_id');
  await page.fill(tid('test-event-0-prop-0-value'), 'c-dee');
  // A scenario the simulator cannot run is explained (400 invalid_scenario).
  await page.fill(tid('test-event-0-at'), 'soon');
  expectedErrors.push(/400.*\/simulate/);
  await page.click(tid('run-test'));
  await page.locator(tid('test-error')).filter({ hasText: '/events/0/at `soon` is neither an offset' }).waitFor();
  await page.fill(tid('test-event-0-at'), '0s');
  await page.click(tid('run-test'));
  const timeline = page.locator(tid('test-timeline'));
  await timeline.waitFor();
  const text = await timeline.textContent();
  for (const expected of ['timed out', 'sent', 'sms_ok', 'completed']) {
    expect(text.toLowerCase().includes(expected), `the timeline mentions “${expected}”: ${text}`);
  }
  const runs = await page.locator(tid('test-runs')).textContent();
  expect(runs.includes('completed') && runs.includes('exit_no_order'), `runs: ${runs}`);
  const sends = await page.locator(tid('test-sends')).textContent();
  expect(sends.includes('send_reminder') && sends.includes('dee@example.com') && sends.includes('You left something behind, '), `sends: ${sends}`);
  const onPath = await page.locator('.react-flow__node .kn-path').evaluateAll((els) => els.map((e) => e.getAttribute('data-testid')).sort());
  expect(JSON.stringify(onPath) === JSON.stringify(['node-exit_no_order', 'node-has_phone', 'node-send_reminder', 'node-trigger', 'node-wait_a_day', 'node-wait_for_order']), `highlighted: ${onPath}`);
  expect(await page.locator('.react-flow__node[data-id="exit_ordered"] .kn-path').count() === 0, 'the exit not taken is not highlighted');
  expect(await page.locator('.react-flow__edge.edge-path').count() === 5, `5 connections on the path, found ${await page.locator('.react-flow__edge.edge-path').count()}`);
  // Save it as a journey test; the server keeps it with the journey.
  await page.fill(tid('test-case-name'), 'no order: reminder, then a day');
  await page.click(tid('save-test'));
  await page.locator(tid('test-saved')).waitFor();
  const tests = await api('GET', '/v1/workflows/abandoned-cart/tests');
  expect(tests.status === 200 && tests.json.tests.length === 1 && tests.json.tests[0].name === 'no order: reminder, then a day', `stored tests: ${tests.text}`);
});

step('every control is labelled and reachable; the editor fits 1280×800', async () => {
  const bad = new Set();
  for (const tab of ['step', 'journey', 'problems', 'versions', 'test', 'live', 'json']) {
    if (tab === 'step') await selectNode(page, 'send_reminder');
    await page.click(tid(`tab-${tab}`));
    for (const b of await unlabelledControls(page)) bad.add(`${tab} tab: ${b}`);
  }
  await selectNode(page, 'has_phone');
  for (const b of await unlabelledControls(page)) bad.add(`branch form: ${b}`);
  expect(bad.size === 0, [...bad].join('\n'));
  await noOverflow(page, 'editor');
  for (const id of ['publish', 'save', 'undo', 'redo', 'auto-layout']) {
    const box = await page.locator(tid(id)).boundingBox();
    expect(box && box.x + box.width <= VIEWPORT.width && box.y + box.height <= VIEWPORT.height, `${id} is on screen at 1280×800`);
  }
  // Tab reaches the palette and Enter adds a step: a keyboard user can build too.
  await page.locator(tid('palette-delay')).focus();
  await page.keyboard.press('Enter');
  await page.locator('.react-flow__node[data-id="delay_1"]').waitFor();
  // ... and connect it from its form, without the mouse.
  await page.locator(tid('port-next')).focus();
  await page.keyboard.press('ArrowDown'); // the first step, in id order: exit_no_order
  await page.locator('.react-flow__edge[data-testid="rf__edge-delay_1->next"]').waitFor();
  expect(await page.inputValue(tid('port-next')) === 'exit_no_order', `delay_1 goes to ${await page.inputValue(tid('port-next'))}`);
  await page.locator(tid('undo')).click();
  await page.locator('.react-flow__edge[data-testid="rf__edge-delay_1->next"]').waitFor({ state: 'detached' });
  await page.locator(tid('undo')).click();
  await page.locator('.react-flow__node[data-id="delay_1"]').waitFor({ state: 'detached' });
});

step('screenshot of the finished canvas', async () => {
  // The test panel kept its scenario and result while other tabs were open.
  await page.click(tid('tab-test'));
  await page.locator(tid('test-timeline')).filter({ hasText: 'timed out' }).waitFor();
  await page.keyboard.press('Escape');
  await page.locator('.react-flow__controls-fitview').click();
  await waitSaved(page);
  mkdirSync(artifacts, { recursive: true });
  await page.screenshot({ path: join(artifacts, 'canvas.png') });
});

step('sign out; a link to a journey comes back to it after signing in', async () => {
  await page.click(tid('tab-live')); // leave the editor with nothing unsaved
  await waitSaved(page);
  await page.goto(`${server.base}/`);
  await page.click(tid('sign-out'));
  await page.waitForURL('**/login');
  expect(!(await context.cookies(server.base)).some((c) => c.name === 'kairos_session'), 'signing out clears the session cookie');
  expectedErrors.push(/401.*\/v1\/session/);
  await page.goto(`${server.base}/journeys/abandoned-cart`);
  await page.waitForURL(/\/login\?next=%2Fjourneys%2Fabandoned-cart$/);
  await page.fill(tid('login-email'), ADMIN.email);
  await page.fill(tid('login-password'), ADMIN.password);
  await page.click(tid('login-submit'));
  await page.waitForURL('**/journeys/abandoned-cart');
  await page.locator(tid('journey-status')).filter({ hasText: 'live' }).waitFor();
  expect(expectedErrors.length === 0, 'not signed in: the editor asked who is signed in and got 401');
});

// A webhook send that confirms its delivery: success statuses, a value saved from the
// response, a `failed` port. On a second journey made just for this, so that the
// abandoned-cart journey above (its node counts, its published version) is untouched.
// Needs an engine that knows `failed`, `save_response` and a webhook's `success`: the
// draft is stored with them and validates without problems.
step('a webhook send: success statuses, a value saved from the response, a failed port (second journey)', async () => {
  await page.goto(`${server.base}/`);
  await page.fill(tid('new-journey-name'), 'CRM sync');
  await page.click(tid('create-journey'));
  await page.waitForURL('**/journeys/crm-sync');
  await page.locator(tid('canvas')).waitFor();

  await dragFromPalette(page, 'trigger', 280, 60);
  await page.selectOption(tid('trigger-type'), 'api');

  await dragFromPalette(page, 'send', 280, 190);
  await rename(page, 'notify_crm');
  await page.selectOption(tid('send-channel'), 'webhook');
  await page.fill(tid('send-url'), 'https://crm.example/hooks/lead');
  // Success statuses: a bad entry is named inline and not written; then 201 and the 3xx class.
  await page.fill(tid('send-webhook-success'), '201, abc');
  await page.locator('.field-error .inline-error').filter({ hasText: '`abc` is not a status code (100–599) or a class like 2xx' }).waitFor();
  await page.fill(tid('send-webhook-success'), '');
  await page.locator(tid('send-webhook-success')).pressSequentially('201, 3xx');
  await page.locator('.field-error .inline-error').filter({ hasText: 'is not a status code' }).waitFor({ state: 'detached' });
  // One value saved from the response: a bad name is flagged on its row, then corrected.
  await page.click(tid('send-save-response-add'));
  await page.fill(tid('send-save-response-0-key'), 'CrmId');
  await page.fill(tid('send-save-response-0-value'), '/id');
  await page.locator(tid('send-save-response-0-problem')).filter({ hasText: '`CrmId` is not a data name' }).waitFor();
  await page.fill(tid('send-save-response-0-key'), 'crm_id');
  await page.locator(tid('send-save-response-0-problem')).waitFor({ state: 'detached' });
  await page.locator(tid('send-failed-hint')).filter({ hasText: 'Connect failed to react when the message cannot be delivered' }).waitFor();
  const bad = await unlabelledControls(page);
  expect(bad.length === 0, `webhook send form: ${bad.join('; ')}`);

  await dragFromPalette(page, 'exit', 150, 340);
  await rename(page, 'thank_you');
  await connect(page, 'trigger', 'next', 'notify_crm');
  await connect(page, 'notify_crm', 'next', 'thank_you');
  // The failed port is optional: the draft is valid without it ...
  await waitSaved(page);
  const before = await api('GET', '/v1/workflows/crm-sync');
  expect(before.status === 200 && before.json.problems.length === 0, `without failed, the draft has no problems: ${before.text}`);
  // ... and with it, leading to a step of its own.
  await dragFromPalette(page, 'exit', 430, 340);
  await rename(page, 'alert_ops');
  await connect(page, 'notify_crm', 'failed', 'alert_ops');
  await waitSaved(page);
  const r = await api('GET', '/v1/workflows/crm-sync');
  expect(r.status === 200, `GET /v1/workflows/crm-sync: ${r.status} ${r.text}`);
  const notify = r.json.draft.nodes.find((n) => n.id === 'notify_crm');
  expect(notify && notify.next === 'thank_you' && notify.failed === 'alert_ops', `the send's ports: ${JSON.stringify(notify)}`);
  expect(JSON.stringify(notify.save_response) === '{"crm_id":"/id"}', `save_response: ${JSON.stringify(notify)}`);
  expect(notify.message.channel === 'webhook' && JSON.stringify(notify.message.success) === '[201,"3xx"]', `success: ${JSON.stringify(notify.message)}`);
  expect(r.json.problems.length === 0, `the draft has no problems: ${JSON.stringify(r.json.problems)}`);
  await page.locator(tid('node-problem-notify_crm')).waitFor({ state: 'detached' });
  await page.locator(`.react-flow__edge.edge-failed`).first().waitFor();
});

// ----- audience: a segment built with the condition builder, a journey it starts, the lifecycle page -----

/** JSON with object keys sorted, to compare what the server stored with what was built. */
function canonical(v) {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(',')}}`;
  return JSON.stringify(v);
}

/** The bars of the stage chart, from its accessible name (`Contacts per stage: lead 3, customer 1`). */
async function stageBarsOf(chart) {
  const label = await chart.getAttribute('aria-label');
  return new Map(label.slice(label.indexOf(': ') + 2).split(', ').map((b) => {
    const i = b.lastIndexOf(' ');
    return [b.slice(0, i), Number(b.slice(i + 1).replace(/,/g, ''))];
  }));
}

/** Opens a page from the top navigation (the journey editor has none: back to the journeys first). */
async function openFromNav(page, id) {
  if (await page.locator(tid(id)).count() === 0) await page.getByRole('button', { name: 'Back to journeys' }).click();
  await page.click(tid(id));
}

/** Polls `fn` until it returns something truthy, for at most `ms`; the last value otherwise. */
async function poll(fn, ms = 10_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v.ok || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, 250));
  }
}

// Shoppers of their own, so that the counts below follow from what is seeded here: none of
// the contacts above performed `purchase`.
const SHOPPERS = [
  { id: 'amy', purchases: [30] },
  { id: 'ben', purchases: [20, 25] },
  { id: 'cat', purchases: [] },
];
const purchasers = SHOPPERS.filter((c) => c.purchases.length >= 1).map((c) => c.id).sort();
const bigSpenders = SHOPPERS.filter((c) => c.purchases.reduce((a, b) => a + b, 0) >= 40).map((c) => c.id).sort();

step('seed three shoppers in one batch through the API: two of them purchased', async () => {
  const batch = [];
  for (const c of SHOPPERS) {
    batch.push({ type: 'identify', userId: c.id, traits: { email: `${c.id}@example.com` } });
    c.purchases.forEach((amount, i) => batch.push({ type: 'track', userId: c.id, event: 'purchase', properties: { amount }, messageId: `purchase-${c.id}-${i}` }));
  }
  const r = await api('POST', '/v1/batch', { batch });
  expect(r.status < 300 && r.json?.accepted === batch.length && r.json.rejected === 0, `POST /v1/batch: ${r.status} ${r.text}`);
});

step('build the segment “Purchasers” on the Segments page: performed purchase at least once, with a live preview', async () => {
  await openFromNav(page, 'nav-segments');
  await page.getByRole('heading', { name: 'Segments', exact: true }).waitFor();
  await page.locator(tid('segment-empty')).waitFor();
  await page.click(tid('new-segment'));
  await page.waitForURL('**/segments/new');
  await page.fill(tid('segment-name'), 'Purchasers');
  const id = await page.inputValue(tid('segment-id'));
  expect(id === 'purchasers', `the id is suggested from the name: ${id}`);
  // The builder starts with one "performed an event" row: event, measure, window, operator, value.
  const row = 'condition-segment-condition-0';
  expect(await page.locator(`${tid(`${row}`)}[data-kind="history"]`).count() === 1, 'the new segment starts with a “performed an event” row');
  await page.fill(tid(`${row}-performed`), 'purchase');
  await page.selectOption(tid(`${row}-measure`), 'count');
  await page.selectOption(tid(`${row}-within`), ''); // ever
  await page.selectOption(tid(`${row}-op`), 'gte');
  await page.fill(tid(`${row}-right`), '1');
  const count = page.locator(tid('segment-preview-count'));
  await page.locator(`${tid('segment-preview-count')}[data-count="${purchasers.length}"]`).waitFor().catch(async () => {
    throw new Check(`the preview shows ${purchasers.length} contacts: ${await page.locator(tid('segment-preview')).textContent()}`);
  });
  expect((await count.textContent()) === `≈ ${purchasers.length} contacts`, `preview: ${await count.textContent()}`);
  const sample = (await page.locator(`${tid('segment-preview-sample')} li`).allTextContents()).sort();
  expect(JSON.stringify(sample) === JSON.stringify(purchasers), `the preview's sample: ${sample}`);
  const bad = await unlabelledControls(page);
  expect(bad.length === 0, `segment page: ${bad.join('; ')}`);
  await noOverflow(page, 'segment page');
});

step('a second row: a total without a property is a problem on its row; fixed, then removed', async () => {
  await page.click(tid('condition-segment-condition-add-history'));
  const row = 'condition-segment-condition-1';
  await page.locator(tid(row)).waitFor();
  await page.fill(tid(`${row}-performed`), 'purchase');
  await page.selectOption(tid(`${row}-measure`), 'sum');
  await page.locator(tid(`${row}-property-problem`)).filter({ hasText: 'choose a property to sum' }).waitFor();
  // Incomplete: no count is asked for.
  await page.locator(tid('segment-preview-status')).filter({ hasText: 'Complete the conditions' }).waitFor();
  await page.fill(tid(`${row}-property`), 'amount');
  await page.locator(tid(`${row}-property-problem`)).waitFor({ state: 'detached' });
  await page.selectOption(tid(`${row}-within`), '');
  await page.selectOption(tid(`${row}-op`), 'gte');
  await page.fill(tid(`${row}-right`), '40');
  // Purchased, and spent at least 40 in all.
  await page.locator(`${tid('segment-preview-count')}[data-count="${bigSpenders.length}"]`).waitFor().catch(async () => {
    throw new Check(`the preview shows ${bigSpenders.length} contact(s): ${await page.locator(tid('segment-preview')).textContent()}`);
  });
  // Not what this segment is for: remove the row again.
  await page.locator(`.cond:has(> .cond-bar ${tid(`${row}-kind`)}) > .cond-bar button[aria-label="Remove condition"]`).click();
  await page.locator(tid(row)).waitFor({ state: 'detached' });
  await page.locator(`${tid('segment-preview-count')}[data-count="${purchasers.length}"]`).waitFor();
});

step('save the segment: the stored condition is the one built, and its members are the purchasers', async () => {
  await page.click(tid('segment-save'));
  await page.waitForURL('**/segments/purchasers');
  await page.locator(tid('segment-message')).filter({ hasText: 'Created.' }).waitFor();
  const r = await api('GET', '/v1/segments/purchasers');
  expect(r.status === 200 && r.json.name === 'Purchasers', `GET /v1/segments/purchasers: ${r.status} ${r.text}`);
  const leaf = { performed: 'purchase', measure: 'count', op: 'gte', right: 1 };
  const stored = canonical(r.json.condition);
  expect(stored === canonical(leaf) || stored === canonical({ all: [leaf] }), `the stored condition: ${JSON.stringify(r.json.condition)}`);
  // Members are worked out in the background.
  const members = await poll(async () => {
    const m = await api('GET', '/v1/segments/purchasers/contacts');
    const ids = (m.json?.contacts ?? []).map((c) => c.id).sort();
    return { ok: m.status === 200 && JSON.stringify(ids) === JSON.stringify(purchasers), ids, m };
  });
  expect(members.ok, `GET /v1/segments/purchasers/contacts lists ${purchasers}: ${members.m.status} ${members.m.text}`);
  // ... and the list of segments shows its size.
  await page.click(tid('nav-segments'));
  await page.locator(tid('segment-size-purchasers')).filter({ hasText: String(purchasers.length) }).waitFor();
});

step('a journey starts when a contact enters the segment: chosen in the trigger form', async () => {
  await page.click('a[href="/"]');
  await page.fill(tid('new-journey-name'), 'Thank purchasers');
  await page.click(tid('create-journey'));
  await page.waitForURL('**/journeys/thank-purchasers');
  await page.locator(tid('canvas')).waitFor();
  await dragFromPalette(page, 'trigger', 280, 60);
  await page.selectOption(tid('trigger-type'), 'segment_entered');
  await page.locator(`${tid('trigger-segment')} option[value="purchasers"]`).waitFor({ state: 'attached' });
  await page.selectOption(tid('trigger-segment'), 'purchasers');
  const bad = await unlabelledControls(page);
  expect(bad.length === 0, `segment trigger form: ${bad.join('; ')}`);
  await dragFromPalette(page, 'exit', 280, 220);
  await rename(page, 'thanked');
  await connect(page, 'trigger', 'next', 'thanked');
  await waitSaved(page);
  const r = await api('GET', '/v1/workflows/thank-purchasers');
  expect(r.status === 200, `GET /v1/workflows/thank-purchasers: ${r.status} ${r.text}`);
  const want = { type: 'segment_entered', segment: 'purchasers', next: 'thanked' };
  expect(canonical(r.json.draft.trigger) === canonical(want), `the draft's trigger: ${JSON.stringify(r.json.draft.trigger)}`);
  expect(r.json.problems.length === 0, `the draft has no problems: ${JSON.stringify(r.json.problems)}`);
});

step('the Lifecycle page shows the contacts per stage; a stage rule saved from its form moves a buyer', async () => {
  await openFromNav(page, 'nav-lifecycle');
  await page.getByRole('heading', { name: 'Lifecycle', exact: true }).waitFor();
  const chart = page.locator(tid('lifecycle-stages'));
  await chart.waitFor();
  // The chart says what the report says.
  const report = await api('GET', '/v1/reports/lifecycle');
  expect(report.status === 200, `GET /v1/reports/lifecycle: ${report.status} ${report.text}`);
  const total = report.json.stages.reduce((s, x) => s + x.contacts, 0);
  const contacts = await api('GET', '/v1/contacts?limit=500');
  expect(contacts.status === 200 && total === contacts.json.data.length, `the report counts ${total} contacts, the API lists ${contacts.json?.data?.length}: ${report.text}`);
  const bars = await stageBarsOf(chart);
  for (const s of report.json.stages) {
    expect(bars.get(s.stage ?? 'no stage') === s.contacts, `the chart shows ${s.stage ?? 'no stage'}: ${s.contacts} (${[...bars]})`);
  }
  // A stage rule: a purchase makes a contact a customer.
  await page.locator(tid('audience-settings')).getByRole('heading', { name: 'Audience settings', exact: true }).waitFor();
  await page.click(tid('stage-rule-add'));
  await page.selectOption(tid('stage-rule-0-to'), 'customer');
  expect(await page.inputValue(tid('stage-rule-0-kind')) === 'event', 'a new rule moves on an event');
  await page.fill(tid('stage-rule-0-event'), 'purchase');
  await page.click(tid('audience-save'));
  await page.locator(tid('audience-message')).filter({ hasText: 'Saved' }).waitFor();
  const audience = await api('GET', '/v1/audience');
  expect(audience.status === 200 && audience.json.stage_rules.length === 1, `GET /v1/audience: ${audience.status} ${audience.text}`);
  const rule = audience.json.stage_rules[0];
  expect(rule.to === 'customer' && rule.event === 'purchase' && rule.condition === undefined, `the stored rule: ${JSON.stringify(rule)}`);
  const bad = await unlabelledControls(page);
  expect(bad.length === 0, `lifecycle page: ${bad.join('; ')}`);
  await noOverflow(page, 'lifecycle page');
  // Cat buys: she becomes a customer and enters the segment.
  const t = await api('POST', '/v1/track', { userId: 'cat', event: 'purchase', properties: { amount: 12 }, messageId: 'purchase-cat-0' });
  expect(t.status < 300, `track: ${t.status} ${t.text}`);
  const stages = await poll(async () => {
    const s = await api('GET', '/v1/contacts/cat/stages');
    return { ok: s.status === 200 && s.json.changes.at(-1)?.to === 'customer', s };
  });
  expect(stages.ok, `cat's stages: ${stages.s.status} ${stages.s.text}`);
  const members = await poll(async () => {
    const m = await api('GET', '/v1/segments/purchasers/contacts');
    return { ok: (m.json?.contacts ?? []).some((c) => c.id === 'cat'), m };
  });
  expect(members.ok, `cat entered the segment: ${members.m.text}`);
  // The page, opened again, counts her.
  await page.click(tid('nav-segments'));
  await page.click(tid('nav-lifecycle'));
  await page.locator(tid('lifecycle-stages')).waitFor();
  const after = await stageBarsOf(page.locator(tid('lifecycle-stages')));
  expect(after.get('customer') === 1, `the chart counts one customer: ${[...after]}`);
  await page.locator(tid('stage-history-contact')).fill('cat');
  await page.click(tid('stage-history-load'));
  await page.locator(tid('stage-history-table')).filter({ hasText: 'customer' }).waitFor();
});

// ----- run -----
let passed = 0;
let failed = 0;
let skipped = 0;
for (const s of steps) {
  if (failed > 0) { skipped++; console.log(`skip  ${s.name}`); continue; }
  const t0 = Date.now();
  try {
    await s.fn();
    const errs = consoleErrors.splice(0);
    if (errs.length) throw new Check(`console or page errors:\n  ${errs.join('\n  ')}`);
    passed++;
    console.log(`ok    ${s.name} (${((Date.now() - t0) / 1000).toFixed(1)}s)`);
  } catch (e) {
    failed++;
    console.log(`FAIL  ${s.name} (${((Date.now() - t0) / 1000).toFixed(1)}s)\n      ${(e instanceof Check ? e.message : e.stack ?? e).toString().replace(/\n/g, '\n      ')}`);
    // What the page reported meanwhile often says why (a blank page after a render error).
    const errs = consoleErrors.splice(0);
    if (errs.length) console.log(`      console or page errors meanwhile:\n        ${errs.join('\n').replace(/\n/g, '\n        ')}`);
    if (page) {
      mkdirSync(artifacts, { recursive: true });
      await page.screenshot({ path: join(artifacts, 'failure.png') }).catch(() => {});
      console.log(`      screenshot: ${join(artifacts, 'failure.png')}`);
    }
    if (server && process.env.E2E_SERVER_LOG !== '0') console.log(`      server log (tail):\n${server.log.join('').split('\n').slice(-15).map((l) => `        ${l}`).join('\n')}`);
  }
}
await context?.close().catch(() => {});
if (state.profile) rmSync(state.profile, { recursive: true, force: true });
await server?.stop().catch(() => {});
console.log(`\ne2e: ${passed} passed, ${failed + skipped} failed${skipped ? ` (${skipped} skipped after a failure)` : ''} in ${((Date.now() - started) / 1000).toFixed(1)}s`);
process.exit(failed + skipped > 0 ? 1 : 0);
