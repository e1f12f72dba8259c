// A config file that does not parse: the app starts anyway, on its demo, says why in the
// window (the file and the line), and leaves the file exactly as it was.
//
// Environment (set by tests/ui/run.sh): SOCKEYE_BIN, BAD_CONFIG (the file the app's
// tauri-driver was started with as SOCKEYE_CONFIG), WEBDRIVER.
import { readFileSync } from "node:fs";
import { wd, openApp, until, check, results } from "./webdriver.mjs";

const before = readFileSync(process.env.BAD_CONFIG, "utf8");
const { sid, js } = await openApp();

await check("a config that does not parse: the window says so, the demo runs, the file is kept", async () => {
  const shown = await until("the config error", () => js("const b = document.querySelector('#config-error'); return b && !b.hidden && b.textContent"), 30000);
  const name = process.env.BAD_CONFIG.split("/").pop();
  if (!shown.includes(name) || !/line \d+/.test(shown)) throw new Error(`banner: ${shown}`);
  await until("the demo connected", () => js("return document.querySelector('#pill').dataset.state === 'connected'"), 30000);
  if (readFileSync(process.env.BAD_CONFIG, "utf8") !== before) throw new Error("the config file was changed");
  console.log(`     ${shown.slice(0, 160)}`);
});

await wd("DELETE", `/session/${sid}`).catch(() => {});
console.log(results.failures ? `${results.failures} bad-config check(s) failed` : "all bad-config checks passed");
process.exit(results.failures ? 1 : 0);
