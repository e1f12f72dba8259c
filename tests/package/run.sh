#!/usr/bin/env bash
# The Debian package end to end on this machine: scripts/package builds it, apt installs it,
# its files and Depends are checked, the installed /usr/bin/sockeye runs under Xvfb with a
# private D-Bus session and a real notification server (dunst) on its embedded demo — a
# window appears (xdotool) and a notification is shown (dbus-monitor) — and apt removes it
# with its binaries. Prints how long the build took (for the CI budget).
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/sockeye-target}"
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

start=$(date +%s)
scripts/package
echo "== package built in $(( $(date +%s) - start )) s =="
DEB=$(ls "$(pwd)"/dist/sockeye_*.deb)

# A leftover install from an interrupted run would hide a missing file.
dpkg-query -W sockeye >/dev/null 2>&1 && $SUDO apt-get remove -y -qq sockeye >/dev/null
echo "== apt-get install $DEB =="
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$DEB" >/dev/null

depends=$(dpkg-query -W -f='${Depends}' sockeye)
for d in libwebkit2gtk-4.1-0 libgtk-3-0; do
  [[ "$depends" == *"$d"* ]] || fail "Depends lacks $d: $depends"
done
# The tray is a StatusNotifierItem spoken over D-Bus by the tray process itself.
[[ "$depends" != *appindicator* ]] || fail "Depends on an appindicator library: $depends"
files=$(dpkg -L sockeye)
for f in /usr/bin/sockeye /usr/bin/sockeye-window /usr/bin/sockeye-cli /usr/share/applications/sockeye.desktop \
  /usr/share/sockeye/sockeye-autostart.desktop /usr/share/icons/hicolor/128x128/apps/sockeye.png \
  /usr/share/doc/sockeye/fleet/sockeye-rules.yml; do
  grep -qx "$f" <<<"$files" || fail "$f not in the package: $files"
  [ -e "$f" ] || fail "$f not installed"
done
grep -qx 'Exec=sockeye' /usr/share/applications/sockeye.desktop || fail "menu entry: $(cat /usr/share/applications/sockeye.desktop)"
grep -qx 'Categories=Network;Monitor;' /usr/share/applications/sockeye.desktop || fail "categories"
grep -qx 'Exec=sockeye --hidden' /usr/share/sockeye/sockeye-autostart.desktop || fail "autostart entry"
if command -v desktop-file-validate >/dev/null; then
  desktop-file-validate /usr/share/applications/sockeye.desktop /usr/share/sockeye/sockeye-autostart.desktop
fi
/usr/bin/sockeye-cli --version

# No environments: the app runs its embedded demo (a simulator with an agent-run scenario).
printf '[settings.notifications]\nmax_per_minute = 30\n' > "$TMP/config.toml"
cat > "$TMP/inner.sh" <<EOF
set -u
export SOCKEYE_CONFIG="$TMP/config.toml" SOCKEYE_DEMO_PACE=0.25 HOME="$TMP"
export NO_AT_BRIDGE=1 WEBKIT_DISABLE_COMPOSITING_MODE=1
dbus-monitor "interface='org.freedesktop.Notifications',member='Notify'" > "$TMP/notify.log" 2>&1 &
MON=\$!
dunst > "$TMP/dunst.log" 2>&1 &
DUNST=\$!
/usr/bin/sockeye > "$TMP/app.log" 2>&1 &
APP=\$!
rc=1
for i in \$(seq 1 120); do
  if xdotool search --onlyvisible --name '^Sockeye' >/dev/null 2>&1; then
    echo "window: \$(xdotool search --onlyvisible --name '^Sockeye' getwindowname | head -1) after \$((i / 2)) s"
    rc=0; break
  fi
  sleep 0.5
done
[ \$rc -eq 0 ] || echo "FAIL: no Sockeye window in 60 s"
if [ \$rc -eq 0 ]; then
  rc=1
  for i in \$(seq 1 120); do
    if grep -q 'Agent run finished' "$TMP/notify.log"; then echo "notification: Agent run finished"; rc=0; break; fi
    sleep 0.5
  done
  [ \$rc -eq 0 ] || echo "FAIL: no notification on D-Bus in 60 s"
fi
kill -TERM \$APP 2>/dev/null
for i in \$(seq 1 50); do kill -0 \$APP 2>/dev/null || break; sleep 0.2; done
kill -0 \$APP 2>/dev/null && { echo "FAIL: the app outlived SIGTERM by 10 s"; kill -KILL \$APP; rc=1; }
[ \$rc -ne 0 ] && { echo "--- app log"; tail -30 "$TMP/app.log"; echo "--- notify log"; tail -20 "$TMP/notify.log"; }
kill \$MON \$DUNST 2>/dev/null
exit \$rc
EOF
xvfb-run -a -s "-screen 0 1280x860x24" dbus-run-session -- bash "$TMP/inner.sh"

echo "== apt-get remove sockeye =="
DEBIAN_FRONTEND=noninteractive $SUDO apt-get remove -y -qq sockeye >/dev/null
for f in /usr/bin/sockeye /usr/bin/sockeye-window /usr/bin/sockeye-cli /usr/share/applications/sockeye.desktop; do
  [ ! -e "$f" ] || fail "$f left after apt-get remove"
done
dpkg-query -W -f='${Status}' sockeye 2>/dev/null | grep -q "install ok installed" && fail "still installed"
echo "== package test passed =="
