# unixmail: see README.md. `make demo` shows the main job, `make test` proves it.
PREFIX  ?= /usr/local
# The group of the setgid sendmail that lets any user drop mail into the
# queue's maildrop (as Postfix's postdrop); see sendmail(8).
MAILGROUP ?= unixmail
# The group that owns /var/mail (Debian: mail). deliver and mail are
# installed setgid to it (and ipop3d, imapd) and use it only to make and remove their dot-lock
# and journal beside a mailbox there, as bsd-mailx does; see mail(1).
SPOOLGROUP ?= mail
# The unprivileged account sendmail -bd parses each SMTP connection as
# (smtpd_user in unixmail.conf(5)); see sendmail(8).
SMTPDUSER ?= unixmail-smtpd
# The queue of sendmail(8); keep in step with queue_directory.
QUEUEDIR  ?= /var/spool/unixmail
DESTDIR ?=
GO      ?= go
CMDS    := $(notdir $(wildcard cmd/*))
SBIN_CMDS := $(filter sendmail deliver deliver-lmtp ipop3d imapd,$(CMDS))
BIN_CMDS  := $(filter mail,$(CMDS))
MANS    := $(wildcard man/*.[1-8])
export CGO_ENABLED ?= 0
# urfave/cli's man-page generator pulls in a markdown library whose init
# costs 0.4 ms at every start, and symbol tables make a third of the file;
# deliver runs once per message, so both go (-ldflags -s -w below).
TAGS    := urfave_cli_no_docs

.PHONY: all test interop bench install demo lint clean fuzz need-go

# The Go release go.mod asks for; a missing go is named before anything runs.
GO_VERSION := $(shell sed -n 's/^go //p' go.mod)

all: need-go
	@mkdir -p bin
	$(GO) build -tags $(TAGS) -trimpath -ldflags="-s -w" -o bin/ $(addprefix ./cmd/,$(CMDS))

# Every test: unit, fuzz seeds, the real binaries driven by real peers.
test: all
	UNIXMAIL_BIN=$(CURDIR)/bin CGO_ENABLED=1 $(GO) test -tags $(TAGS) -race -shuffle=on -count=1 -timeout 20m ./...

# The tests that need real peers alone (they are part of `make test` too).
interop: all
	UNIXMAIL_BIN=$(CURDIR)/bin $(GO) test -count=1 -run 'Interop|Peer|Python|Procmail|Snail' ./...

# A short fuzzing run of every fuzz target.
fuzz:
	scripts/fuzz.sh 30s

bench: all
	UNIXMAIL_BIN=$(CURDIR)/bin scripts/bench.sh

demo: all
	scripts/demo.sh

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt: $$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) mod tidy -diff
	mandoc -Tlint -W warning $(MANS)

install: all
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
		$(DESTDIR)$(PREFIX)/share/man/man5 $(DESTDIR)$(PREFIX)/share/man/man8
	for c in $(SBIN_CMDS); do install -m 0755 bin/$$c $(DESTDIR)$(PREFIX)/sbin/$$c; done
	for c in $(BIN_CMDS); do install -m 0755 bin/$$c $(DESTDIR)$(PREFIX)/bin/$$c; done
	# mailx is the POSIX name of mail, and the one scripts call.
	if [ -f bin/mail ]; then \
		ln -sf mail $(DESTDIR)$(PREFIX)/bin/mailx; \
		ln -sf mail.1 $(DESTDIR)$(PREFIX)/share/man/man1/mailx.1; \
	fi
	if [ -f bin/sendmail ]; then \
		ln -sf ../sbin/sendmail $(DESTDIR)$(PREFIX)/bin/mailq; \
		ln -sf ../sbin/sendmail $(DESTDIR)$(PREFIX)/bin/newaliases; \
		if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ]; then \
			getent group $(MAILGROUP) >/dev/null || groupadd --system $(MAILGROUP); \
			getent passwd $(SMTPDUSER) >/dev/null || useradd --system --user-group --no-create-home \
				--home-dir /nonexistent --shell /usr/sbin/nologin --comment "unixmail SMTP parser" $(SMTPDUSER); \
			chgrp $(MAILGROUP) $(PREFIX)/sbin/sendmail && chmod 2755 $(PREFIX)/sbin/sendmail; \
			install -d -m 0755 $(QUEUEDIR) && install -d -m 0700 $(QUEUEDIR)/active && \
			install -d -m 1730 -g $(MAILGROUP) $(QUEUEDIR)/maildrop; \
		else \
			echo "note: as root, without DESTDIR, sendmail is made setgid $(MAILGROUP) and the account $(SMTPDUSER) is made (see sendmail(8))"; \
		fi; \
	fi
	if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && getent group $(SPOOLGROUP) >/dev/null; then \
		for c in sbin/deliver sbin/deliver-lmtp bin/mail sbin/ipop3d sbin/imapd; do \
			if [ -f $(PREFIX)/$$c ]; then chgrp $(SPOOLGROUP) $(PREFIX)/$$c && chmod 2755 $(PREFIX)/$$c; fi; \
		done; \
	else \
		echo "note: as root, without DESTDIR, deliver (and deliver-lmtp), mail, ipop3d and imapd are made setgid $(SPOOLGROUP) for /var/mail (see mail(1))"; \
	fi
	for m in $(MANS); do s=$${m##*.}; install -m 0644 $$m $(DESTDIR)$(PREFIX)/share/man/man$$s/; done
	# Service files for ipop3d and imapd (see ipop3d(8)): systemd units where
	# systemd looks for them under PREFIX; the xinetd and inetd.conf examples
	# beside the docs, to copy into /etc.
	install -d $(DESTDIR)$(PREFIX)/lib/systemd/system $(DESTDIR)$(PREFIX)/share/unixmail/xinetd.d
	for f in dist/systemd/* dist/xinetd.d/* dist/inetd.conf; do \
		case $$f in dist/systemd/*) d=lib/systemd/system;; dist/xinetd.d/*) d=share/unixmail/xinetd.d;; *) d=share/unixmail;; esac; \
		sed 's|@SBINDIR@|$(PREFIX)/sbin|g' $$f > $(DESTDIR)$(PREFIX)/$$d/$${f##*/} && chmod 0644 $(DESTDIR)$(PREFIX)/$$d/$${f##*/}; \
	done

clean:
	rm -rf bin build

need-go:
	@command -v $(GO) >/dev/null 2>&1 || { \
		echo "make: Go $(GO_VERSION) or later is needed (go.mod) and \"$(GO)\" is not in PATH."; \
		echo "make: install it from https://go.dev/dl/ or your system's packages (Debian: golang-go, if recent enough);"; \
		echo "make: the first build also downloads the modules of go.mod, so it needs the network once."; \
		exit 1; } >&2
