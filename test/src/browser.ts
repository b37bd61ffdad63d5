import { type Browser, chromium } from 'playwright-core';

/**
 * Debian's Chromium, headless, driven by playwright-core. The flags keep it
 * off the (closed) network, let WebRTC use loopback candidates, and keep its
 * CPU low on a 2-core machine (issue 11): a test measures the product, so the
 * browser watching it should cost as little as it can.
 * playwright-core already adds --headless, --mute-audio, --disable-dev-shm-usage
 * and the no-backgrounding switches (a page's timers and frames are never
 * throttled, whichever page is in front).
 */
export const CHROMIUM_FLAGS = [
  '--no-sandbox',
  // No GPU here: software compositing, and no SwiftShader GL context started for it.
  '--disable-gpu',
  '--disable-gpu-compositing',
  '--disable-software-rasterizer',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--disable-sync',
  '--disable-quic',
  '--autoplay-policy=no-user-gesture-required',
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
  // Allow host candidates on loopback instead of mDNS names.
  '--disable-features=WebRtcHideLocalIpsWithMdns',
  // Gather candidates on loopback too: every test stays on 127.0.0.1.
  '--allow-loopback-in-peer-connection',
];

/**
 * Every page's viewport unless a test asks for another: the viewer's <video>
 * fills the stage's width, so a small window draws the picture at about the
 * e2e pattern's own size (test/src/origin.ts) — no scaling, a quarter of the
 * 1280x720 default's compositing.
 */
export const TEST_VIEWPORT = { width: 640, height: 480 };

/**
 * The viewer page's decorations drawn over the playing video — the badge's
 * backdrop blur, the score bug's drop shadow, the pulsing live dot — cost a
 * software-rendering Chromium more than the video itself (measured with
 * test/src/rig-cpu.ts: GPU process ~36-50 % → ~6 %, renderer ~30-36 % → ~19 %
 * of a core). No test looks at them and no code waits on them, so test pages
 * go without.
 */
export const TEST_PAGE_CSS =
  '* { animation: none !important; backdrop-filter: none !important; filter: none !important; }';
const addTestCss = `document.addEventListener('DOMContentLoaded', () => {
  const style = document.createElement('style');
  style.textContent = ${JSON.stringify(TEST_PAGE_CSS)};
  document.head.append(style);
});`;

/**
 * One browser per test file: its pages (and contexts) get TEST_VIEWPORT by
 * default, and TEST_PAGE_CSS.
 */
export async function launchChromium(extraArgs: string[] = []): Promise<Browser> {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    args: [...CHROMIUM_FLAGS, ...extraArgs],
  });
  const newContext = browser.newContext.bind(browser);
  browser.newContext = async (options = {}) => {
    const context = await newContext({ viewport: TEST_VIEWPORT, ...options });
    await context.addInitScript(addTestCss);
    return context;
  };
  // Like Browser.newPage: a context of its own, closed with the page.
  browser.newPage = async (options = {}) => {
    const context = await browser.newContext(options);
    const page = await context.newPage();
    page.on('close', () => void context.close().catch(() => undefined));
    return page;
  };
  return browser;
}
