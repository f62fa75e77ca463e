#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# test-install.sh - "meson install" into a scratch DESTDIR installs exactly
# the files swapdev ships, with sane modes, and they work:
#
#  - the daemon and swapdevctl run and print the project's version;
#  - the unit starts the installed daemon and has no placeholder left;
#  - the sysusers.d snippet creates group swapdev;
#  - the sample configuration is valid (swapdevd --check-config) and lists
#    every key at its built-in default;
#  - the man pages render without a warning (man --warnings, or groff -ww)
#    and document every option, command, key (with its default and whether
#    it is a runtime tunable) and statistics field that the sources define,
#    so that the manuals cannot silently fall behind the code.
#
# The lists of options, keys and fields are read from the sources: the
# longopts tables of daemon/main.c and tools/*.c, the command table of
# tools/swapdevctl.c, CONFIG_KEY_TABLE in libswapdev/config.c and
# proto_stat_fields[] in libswapdev/protocol.c.
#
# Needs no root. Without man or groff, every other check still runs, then it
# prints SKIP with the reason and exits 77.
#
# Environment (tests/install/meson.build sets it): SWAPDEV_BUILD_ROOT,
# SWAPDEV_SOURCE_ROOT, SWAPDEV_VERSION, and the installation directories
# SWAPDEV_SBINDIR, SWAPDEV_BINDIR, SWAPDEV_MANDIR, SWAPDEV_SYSCONFDIR,
# SWAPDEV_UNITDIR, SWAPDEV_SYSUSERSDIR (absolute, without DESTDIR).

set -euo pipefail

fail()
{
	echo "FAIL: ${0##*/}: $*" >&2
	exit 1
}

skip()
{
	echo "SKIP: ${0##*/}: $*"
	exit 77
}

log()
{
	echo "${0##*/}: $*"
}

for v in SWAPDEV_BUILD_ROOT SWAPDEV_SOURCE_ROOT SWAPDEV_VERSION SWAPDEV_SBINDIR \
	SWAPDEV_BINDIR SWAPDEV_MANDIR SWAPDEV_SYSCONFDIR SWAPDEV_UNITDIR SWAPDEV_SYSUSERSDIR; do
	[ -n "${!v:-}" ] || fail "$v is not set (run through 'meson test')"
done
command -v meson >/dev/null || skip "meson not in PATH"
src=$SWAPDEV_SOURCE_ROOT

dest=$(mktemp -d "${TMPDIR:-/tmp}/swapdev-install.XXXXXX")
trap 'rm -rf "$dest"' EXIT

# --no-rebuild: meson test has built everything, and a nested ninja in the
# same build directory is asking for trouble.
if ! out=$(meson install -C "$SWAPDEV_BUILD_ROOT" --no-rebuild --destdir "$dest" 2>&1); then
	printf '%s\n' "$out" >&2
	fail "meson install failed"
fi

# ---------------------------------------------------------------- the files

sbin=$dest$SWAPDEV_SBINDIR/swapdevd
ctl=$dest$SWAPDEV_BINDIR/swapdevctl
unit=$dest$SWAPDEV_UNITDIR/swapdevd.service
sysusers=$dest$SWAPDEV_SYSUSERSDIR/swapdev.conf
man8=$dest$SWAPDEV_MANDIR/man8
man5=$dest$SWAPDEV_MANDIR/man5
conf=$dest$SWAPDEV_SYSCONFDIR/swapdev/swapdevd.conf
textfile_units=("$dest$SWAPDEV_UNITDIR/swapdev-textfile.service"
	"$dest$SWAPDEV_UNITDIR/swapdev-textfile.timer")
bash_completion=$dest$SWAPDEV_BASH_COMPLETION_DIR/swapdevctl
zsh_completion=$dest$SWAPDEV_ZSH_COMPLETION_DIR/_swapdevctl
programs=("$sbin" "$ctl")
data=("$unit" "$sysusers" "$man8/swapdevd.8" "$man8/swapdevctl.8" "$man5/swapdevd.conf.5"
	"$conf" "$bash_completion" "$zsh_completion" "${textfile_units[@]}")

expected=$(printf '%s\n' "${programs[@]}" "${data[@]}" | sort)
installed=$(find "$dest" ! -type d | sort)
if [ "$installed" != "$expected" ]; then
	diff <(echo "$expected") <(echo "$installed") >&2 || true
	fail "installed files differ from the expected ones (< expected, > installed)"
fi

# mode_ok FILE KIND : a regular file, writable by its owner only, no set-ID
# bits; programs executable by all, data readable by all and not executable.
mode_ok()
{
	local file=$1 kind=$2 mode want=644

	if [ ! -f "$file" ] || [ -L "$file" ]; then
		fail "$file is not a regular file"
	fi
	[ "$kind" = program ] && want=755
	mode=$(stat -c %a "$file")
	[ "$mode" = "$want" ] || fail "$file has mode $mode, expected $want"
}

for f in "${programs[@]}"; do
	mode_ok "$f" program
done
for f in "${data[@]}"; do
	mode_ok "$f" data
done
while IFS= read -r d; do
	[ "$(stat -c %a "$d")" = 755 ] || fail "directory $d has mode $(stat -c %a "$d")"
done < <(find "$dest" -mindepth 1 -type d)
log "installed exactly ${#programs[@]} programs and ${#data[@]} data files, modes 755/644"

# complete WORDS... : what the installed bash completion offers for the
# last word.
complete_words()
{
	bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
		_swapdevctl; printf "%s\n" "${COMPREPLY[@]}"' complete "$bash_completion" "$@"
}
[ "$(complete_words swapdevctl st | sort | tr '\n' ' ')" = "stats status " ] ||
	fail "bash completion of 'swapdevctl st': $(complete_words swapdevctl st | tr '\n' ' ')"
complete_words swapdevctl list --no | grep -qx -- --noheadings ||
	fail "bash completion does not offer list's --noheadings"
complete_words swapdevctl list --output NAME,ALG | grep -qx NAME,ALGORITHM ||
	fail "bash completion does not offer the list columns"
if command -v zsh >/dev/null; then
	zsh -n "$zsh_completion" || fail "the zsh completion does not parse"
fi
log "bash completion completes commands, options and columns"

# ---------------------------------------------------------------- they work

for p in "$sbin" "$ctl"; do
	v=$("$p" --version) || fail "$p --version failed"
	[ "$v" = "${p##*/} $SWAPDEV_VERSION" ] || fail "$p --version printed '$v'"
done

exec_start="ExecStart=$SWAPDEV_SBINDIR/swapdevd --foreground"
grep -qxF "$exec_start" "$unit" || fail "$unit lacks '$exec_start'"
if grep -n '@[A-Za-z_]*@' "$unit"; then
	fail "unsubstituted placeholder in $unit"
fi
grep -qE '^g[[:space:]]+swapdev[[:space:]]' "$sysusers" ||
	fail "$sysusers does not create group swapdev"
log "unit starts $SWAPDEV_SBINDIR/swapdevd; sysusers.d creates group swapdev"

out=$("$sbin" --check-config --config "$conf" 2>&1) ||
	fail "installed sample configuration is invalid: $out"

# ---------------------------------------------------------------- the sources

# Long options of the getopt tables in FILES: '{ "name", ' lines.
long_options()
{
	sed -n 's/^[[:space:]]*{ "\([a-z-]*\)", \(no\|required\)_argument.*/\1/p' "$@" | sort -u
}

# "section.key runtime|startup default" for every CONFIG_KEY_TABLE entry.
config_keys()
{
	local exclusive

	exclusive=$(sed -n 's/^#define SWAPDEV_DEFAULT_EXCLUSIVE_LOADS \(true\|false\)$/\1/p' \
		"$src/libswapdev/config.c")
	[ -n "$exclusive" ] || fail "SWAPDEV_DEFAULT_EXCLUSIVE_LOADS not found in config.c"
	if [ "$exclusive" = true ]; then
		exclusive=yes
	else
		exclusive=no
	fi
	# Entries span lines ending in a backslash; join them, one X(...) per line.
	sed -n '/^#define CONFIG_KEY_TABLE(X)/,/^$/p' "$src/libswapdev/config.c" |
		tr -d '\\\n' | sed 's/X(/\n&/g' | grep '^X("' |
		sed 's/SWAPDEV_DEFAULT_EXCLUSIVE_LOADS ? "yes" : "no"/"'"$exclusive"'"/' |
		awk -F'"' '{
			printf "%s %s %s\n", $2, ($0 ~ /KEY_RUNTIME/ ? "runtime" : "startup"), $(NF - 1)
		}'
}

mapfile -t daemon_options < <(long_options "$src/daemon/main.c")
mapfile -t ctl_options < <(long_options "$src"/tools/*.c)
mapfile -t ctl_commands < <(sed -n 's/^[[:space:]]*{ "\([a-z]*\)", ctl_[a-z]*, .*/\1/p' \
	"$src/tools/swapdevctl.c")
mapfile -t stat_fields < <(sed -n 's/^[[:space:]]*\(GAUGE\|COUNTER\)(\([a-z_]*\),.*/\2/p' \
	"$src/libswapdev/protocol.c")
keys=$(config_keys)
[ "${#daemon_options[@]}" -ge 3 ] || fail "could not read swapdevd's options from main.c"
[ "${#ctl_options[@]}" -ge 3 ] || fail "could not read swapdevctl's options from tools/"
[ "${#ctl_commands[@]}" -ge 3 ] || fail "could not read swapdevctl's commands"
[ "${#stat_fields[@]}" -ge 3 ] || fail "could not read proto_stat_fields[] from protocol.c"
[ "$(wc -l <<<"$keys")" -ge 3 ] || fail "could not read CONFIG_KEY_TABLE from config.c"

# The sample file: every key once, under its section, commented out at its
# built-in default ("#key = value").
sample=$(awk '/^\[[a-z]+\]$/ { section = substr($0, 2, length($0) - 2); next }
	/^#[a-z_]+ = / { sub(/^#/, ""); print section "." $1, $3 }' "$conf" | sort)
want=$(awk '{ print $1, $3 }' <<<"$keys" | sort)
if [ "$sample" != "$want" ]; then
	diff <(echo "$want") <(echo "$sample") >&2 || true
	fail "$conf does not list every key at its default (< sources, > sample)"
fi
log "sample configuration is valid and lists all $(wc -l <<<"$keys") keys at their defaults"

# ---------------------------------------------------------------- the manuals

# render FILE : the page as text on stdout; fails on any warning.
render()
{
	local file=$1 err=$dest/render.err

	if command -v man >/dev/null; then
		MANWIDTH=80 man --warnings -l "$file" 2>"$err"
	else
		# Plain text: no bold or underline by overstriking or escapes.
		groff -man -Tutf8 -ww -P-cbou "$file" 2>"$err"
	fi
	if [ -s "$err" ]; then
		cat "$err" >&2
		fail "$file renders with warnings"
	fi
}

if ! command -v man >/dev/null && ! command -v groff >/dev/null; then
	skip "every check passed except rendering the man pages: neither man nor groff is" \
		"installed (apt-get install man-db groff-base)"
fi

# check_page FILE SECTION... : renders, is not empty, has the sections.
check_page()
{
	local page=$1 text section

	shift
	text=$(render "$page")
	[ "$(wc -l <<<"$text")" -gt 50 ] || fail "$page renders to almost nothing"
	for section in NAME SYNOPSIS DESCRIPTION OPTIONS EXAMPLES FILES "SEE ALSO" "$@"; do
		grep -qx "$section" <<<"$text" || fail "$page has no $section section"
	done
	tail -n 1 <<<"$text" | grep -q "swapdev $SWAPDEV_VERSION" ||
		fail "$page's footer does not carry the version $SWAPDEV_VERSION: $(tail -n 1 <<<"$text")"
	for ref in 'swapon(8)' 'zramctl(8)' 'zram-generator.conf(5)'; do
		grep -qF "$ref" <<<"$text" || fail "$page does not refer to $ref"
	done
	printf '%s\n' "$text"
}

daemon_text=$(check_page "$man8/swapdevd.8" SIGNALS "EXIT STATUS")
ctl_text=$(check_page "$man8/swapdevctl.8" "EXIT STATUS" "STATISTICS FIELDS")
conf_text=$(check_page "$man5/swapdevd.conf.5")
log "man pages render without warnings and have their sections"

# documented TEXT WHAT ITEM... : every ITEM occurs in TEXT as a whole word.
documented()
{
	local text=$1 what=$2 item

	shift 2
	for item in "$@"; do
		grep -qE -- "(^|[^a-z_-])$item([^a-z_]|$)" <<<"$text" ||
			fail "$what '$item' is not documented"
	done
}

documented "$daemon_text" "swapdevd(8): option" "${daemon_options[@]/#/--}"
documented "$ctl_text" "swapdevctl(8): option" "${ctl_options[@]/#/--}"
documented "$ctl_text" "swapdevctl(8): command" "${ctl_commands[@]}"
documented "$ctl_text" "swapdevctl(8): statistics field" "${stat_fields[@]}" read_latency_us \
	write_latency_us uptime_seconds config

# In swapdevd.conf(5) each key is a "key = ..." line under its "[section]"
# heading, marked "(runtime)" when it is a runtime tunable, and followed by
# "Default VALUE".
manual=$(awk '
	/^   \[[a-z]+\]$/ { section = substr($1, 2, length($1) - 2); key = ""; next }
	/^   [^ ]/ { section = ""; key = ""; next }
	section != "" && /^       [a-z_]+ = / {
		key = section "." $1
		runtime[key] = ($0 ~ /\(runtime\)$/) ? "runtime" : "startup"
		next
	}
	key != "" && /^ +Default [^ ]+/ {
		value = $2
		sub(/[;,.]$/, "", value)
		print key, runtime[key], value
		key = ""
	}' <<<"$conf_text" | sort)
want=$(sort <<<"$keys")
if [ "$manual" != "$want" ]; then
	diff <(echo "$want") <(echo "$manual") >&2 || true
	fail "swapdevd.conf(5) does not document every key with its default and" \
		"runtime flag as the sources define them (< sources, > manual)"
fi
log "manuals document ${#daemon_options[@]} + ${#ctl_options[@]} options," \
	"${#ctl_commands[@]} commands, ${#stat_fields[@]} statistics and $(wc -l <<<"$keys") keys"
