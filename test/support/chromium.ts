// Headless Chromium for the web console's browser tests: Debian's `chromium`
// (apt-get install chromium; .ci/run installs it when missing) driven by
// playwright-core, which brings no browser of its own. CHROMIUM_PATH names
// another binary.
//
//   const chrome = await launchChromium();
//   const page = await chrome.newPage();           // 1280×800, a context of its own
//   await page.goto(fleet.url);
//   await screenshot(page, "devices");             // docs/console/devices.png
//   await chrome.close();
//
// Every launch starts from a fresh profile: playwright-core's launch() gives the
// browser a new temporary user-data-dir and deletes it on close (it refuses a
// --user-data-dir flag; only launchPersistentContext takes a folder of one's own).
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions, type Page } from "playwright-core";

/** The flags this machine needs (no GPU, no sandbox as root, no network of Chromium's own). */
export const chromiumFlags: readonly string[] = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Every page's viewport, and so every screenshot's size. */
export const viewport = { width: 1280, height: 800 } as const;

/** Where screenshot() writes: docs/console/ of the repository. */
export const screenshotDir = fileURLToPath(new URL("../../docs/console/", import.meta.url));

/** CHROMIUM_PATH, else Debian's chromium; throws saying how to get one. */
export function chromiumPath(): string {
  const configured = process.env.CHROMIUM_PATH;
  if (configured) return configured;
  for (const candidate of ["/usr/bin/chromium", "/usr/bin/chromium-browser"]) if (existsSync(candidate)) return candidate;
  throw new Error("Chromium not found: install it (apt-get install -y chromium) or set CHROMIUM_PATH");
}

export interface ChromiumSession {
  readonly browser: Browser;
  /** A new isolated context (cookies, storage) with the 1280×800 viewport; options override. */
  newContext(options?: BrowserContextOptions): Promise<BrowserContext>;
  /** A page in a new context of its own; closing the session closes it. */
  newPage(options?: BrowserContextOptions): Promise<Page>;
  /** Closes every context and the browser. Idempotent. */
  close(): Promise<void>;
}

export interface LaunchOptions {
  /** More Chromium flags, after chromiumFlags. */
  args?: readonly string[];
  /** Longest wait for the browser to start (ms). Default 30 s. */
  timeoutMs?: number;
}

export async function launchChromium(options: LaunchOptions = {}): Promise<ChromiumSession> {
  const browser = await chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    args: [...chromiumFlags, ...(options.args ?? [])],
    timeout: options.timeoutMs ?? 30_000,
  });
  const newContext = (contextOptions: BrowserContextOptions = {}) => browser.newContext({ viewport: { ...viewport }, ...contextOptions });
  let closed: Promise<void> | undefined;
  return {
    browser,
    newContext,
    async newPage(contextOptions) {
      return (await newContext(contextOptions)).newPage();
    },
    close() {
      closed ??= browser.close();
      return closed;
    },
  };
}

/** Runs `use` with a fresh browser and closes it afterwards, whatever happens. */
export async function withChromium<T>(use: (session: ChromiumSession) => Promise<T>, options: LaunchOptions = {}): Promise<T> {
  const session = await launchChromium(options);
  try {
    return await use(session);
  } finally {
    await session.close();
  }
}

/**
 * Saves what the page shows (the 1280×800 viewport, or the whole page with
 * fullPage) as `<dir>/<name>.png`, dir docs/console/ unless given; creates the
 * folder. Answers the file's path.
 */
export async function screenshot(page: Page, name: string, options: { fullPage?: boolean; dir?: string } = {}): Promise<string> {
  const base = name.replace(/\.png$/i, "");
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(base)) throw new Error(`screenshot name ${JSON.stringify(name)}: letters, digits, ".", "_" and "-" only`);
  const dir = options.dir ?? screenshotDir;
  await mkdir(dir, { recursive: true });
  const path = join(dir, `${base}.png`);
  await page.screenshot({ path, fullPage: options.fullPage ?? false });
  return path;
}
