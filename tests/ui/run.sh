#!/usr/bin/env bash
# Run the app's end-to-end UI test: Xvfb + a private D-Bus session with a real notification
# server (dunst) and a dbus-monitor capture, tauri-driver + WebKitWebDriver, the `sockeye`
# binary on its embedded demo. Screenshots go to $SCREENSHOT_DIR when set.
# UI_SCRIPT=bench_ui.mjs SOCKEYE_DEMO_SCENARIO=none SOCKEYE_BUILD=release runs the UI benchmark
# (with the page's latency marks on: SOCKEYE_UI_BENCH). After the WebDriver script,
# tray_cycle.mjs closes the window to the tray and shows it again without WebDriver (WebKit's
# processes end, the page comes back; for the benchmark it also weighs the open window); after the e2e test, citizen.mjs runs the app on a
# login environment (one login, no polling, clean quit on SIGTERM); CITIZEN_SECS sets how long
# it watches (default 60); then replay_ui.mjs runs the demo on a recording (replay, Record,
# Emit).
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/sockeye-target}"
if [ "${SOCKEYE_BUILD:-debug}" = release ]; then
  cargo build -p sockeye --locked --release
  BIN="$CARGO_TARGET_DIR/release/sockeye"
else
  cargo build -p sockeye --locked
  BIN="$CARGO_TARGET_DIR/debug/sockeye"
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# The demo's port lies below the kernel's ephemeral range (like Frappe's 9000): the restart
# check closes it, and a reconnect to a closed ephemeral-range port can connect to itself and
# hold the port.
PORT=$(python3 -c '
import random, socket
for p in random.sample(range(20000, 32000), 200):
    try:
        s = socket.socket(); s.bind(("127.0.0.1", p)); s.close(); print(p); break
    except OSError: pass')
WDPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
WDPORT2=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
WDPORT3=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
DRIVER="$(command -v tauri-driver || echo "$HOME/.cargo/bin/tauri-driver")"

# No environments (so the app runs its demo); a notification budget the demo cannot spend
# before the burst check.
printf '[settings.notifications]\nmax_per_minute = 30\n' > "$TMP/config.toml"

cat > "$TMP/inner.sh" <<EOF
set -u
export SOCKEYE_CONFIG="$TMP/config.toml" SOCKEYE_DEMO_PORT=$PORT SOCKEYE_DEMO_PACE=0.25 SOCKEYE_DEMO_SCENARIO=${SOCKEYE_DEMO_SCENARIO:-demo}
export NO_AT_BRIDGE=1 WEBKIT_DISABLE_COMPOSITING_MODE=1
[ "${UI_SCRIPT:-e2e.mjs}" = bench_ui.mjs ] && export SOCKEYE_UI_BENCH=1
dbus-monitor "interface='org.freedesktop.Notifications',member='Notify'" > "$TMP/notify.log" 2>&1 &
dunst > "$TMP/dunst.log" 2>&1 &
"$DRIVER" --port $WDPORT > "$TMP/driver.log" 2>&1 &
DRV=\$!
for i in \$(seq 1 100); do (echo > /dev/tcp/127.0.0.1/$WDPORT) 2>/dev/null && break; sleep 0.1; done
SOCKEYE_BIN="$BIN" NOTIFY_LOG="$TMP/notify.log" WEBDRIVER="http://127.0.0.1:$WDPORT" SCREENSHOT_DIR="${SCREENSHOT_DIR:-}" \
  timeout 300 node tests/ui/${UI_SCRIPT:-e2e.mjs}
rc=\$?
kill \$DRV 2>/dev/null
if [ "${UI_SCRIPT:-e2e.mjs}" = bench_ui.mjs ]; then export TRAY_CYCLES=5 TRAY_CYCLE_MORE_EVENTS=100000; else export TRAY_CYCLES=2; fi
SOCKEYE_BIN="$BIN" timeout 180 node tests/ui/tray_cycle.mjs || rc=1
if [ "${UI_SCRIPT:-e2e.mjs}" = e2e.mjs ]; then
  SOCKEYE_BIN="$BIN" CITIZEN_SECS=${CITIZEN_SECS:-60} timeout 200 node tests/ui/citizen.mjs || rc=1
  # The demo on a recording: a driver (hence an app) started with SOCKEYE_DEMO_RECORDING, on
  # a config of its own.
  REC="\$PWD/tests/ui/fixtures/site-10s.jsonl"
  : > "$TMP/replay.toml"
  SOCKEYE_CONFIG="$TMP/replay.toml" SOCKEYE_DEMO_PORT=0 SOCKEYE_DEMO_RECORDING="\$REC" "$DRIVER" --port $WDPORT2 > "$TMP/driver2.log" 2>&1 &
  DRV2=\$!
  for i in \$(seq 1 100); do (echo > /dev/tcp/127.0.0.1/$WDPORT2) 2>/dev/null && break; sleep 0.1; done
  SOCKEYE_BIN="$BIN" RECORDING="\$REC" WEBDRIVER="http://127.0.0.1:$WDPORT2" timeout 200 node tests/ui/replay_ui.mjs || { rc=1; tail -30 "$TMP/driver2.log"; }
  kill \$DRV2 2>/dev/null
  # A config file with a syntax error: the app runs its demo and says why.
  printf '[[profile]]\nname = "prod"\nurl = https://erp.example.com\n' > "$TMP/bad.toml"
  SOCKEYE_CONFIG="$TMP/bad.toml" SOCKEYE_DEMO_PORT=0 "$DRIVER" --port $WDPORT3 > "$TMP/driver3.log" 2>&1 &
  DRV3=\$!
  for i in \$(seq 1 100); do (echo > /dev/tcp/127.0.0.1/$WDPORT3) 2>/dev/null && break; sleep 0.1; done
  SOCKEYE_BIN="$BIN" BAD_CONFIG="$TMP/bad.toml" WEBDRIVER="http://127.0.0.1:$WDPORT3" timeout 120 node tests/ui/bad_config.mjs || { rc=1; tail -30 "$TMP/driver3.log"; }
  kill \$DRV3 2>/dev/null
fi
pkill -P \$\$ 2>/dev/null
[ \$rc -ne 0 ] && { echo "--- tauri-driver log"; tail -30 "$TMP/driver.log"; }
exit \$rc
EOF
xvfb-run -a -s "-screen 0 1280x860x24" dbus-run-session -- bash "$TMP/inner.sh"
