# Sourced by the bench-*.sh scripts that need root and a real user.

# need_root WHY PACKAGES TOOL...: go on only as root with every TOOL
# installed; else say why the bench is skipped and exit 0.
need_root() {
	why=$1 packages=$2
	shift 2
	if [ "$(id -u)" != 0 ]; then
		echo "  skipped: needs root ($why)"
		exit 0
	fi
	for p in "$@"; do
		if ! command -v "$p" >/dev/null 2>&1; then
			echo "  skipped: $p is not installed (Debian: $packages)"
			exit 0
		fi
	done
}

# bench_user NAME HOME: a system user of group 65534 owning HOME, for this
# run; useradd is tried again while someone else holds /etc/passwd's lock.
bench_user() {
	until useradd --system --no-create-home --no-user-group --gid 65534 --home-dir "$2" --shell /usr/sbin/nologin "$1" 2>"$2.useradd-err"; do
		grep -q lock "$2.useradd-err" || { cat "$2.useradd-err"; exit 1; }
		sleep 0.2
	done
	rm -f "$2.useradd-err"
	mkdir -p "$2"
	chown "$1:65534" "$2"
}
