# torify: build and install.
#
#   make                      # cargo build --release (the launcher, the service and the library),
#                             # and the statically linked torify-rescue
#   sudo make install         # into /usr/local; PREFIX=/usr, DESTDIR=/tmp/pkg for packaging
#   sudo make uninstall       # removes exactly what install put there
#   make deb                  # the Debian package, $(DEBDIR)/torify_VERSION-REVISION_ARCH.deb
#
# install does not build: it installs what `make` built (from CARGO_TARGET_DIR), so that
# `sudo make install` never runs cargo as root.

PREFIX ?= /usr/local
DESTDIR ?=
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
LIBDIR ?= $(PREFIX)/lib
DATADIR ?= $(PREFIX)/share
MANDIR ?= $(DATADIR)/man
DOCDIR ?= $(DATADIR)/doc/torify
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions
ZSHCOMPDIR ?= $(DATADIR)/zsh/site-functions
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
SYSTEMDUSERUNITDIR ?= $(LIBDIR)/systemd/user
CARGO ?= cargo
CARGO_TARGET_DIR ?= target
BUILT := $(CARGO_TARGET_DIR)/release
# torify-rescue, linked statically (crt-static) so that it runs when /etc/ld.so.preload names a
# broken library: built apart from the workspace, with a target directory of its own.
RESCUE := $(CARGO_TARGET_DIR)/rescue/release/torify-rescue
DEBDIR ?= $(CARGO_TARGET_DIR)/deb
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)

# Every file install writes, relative to $(DESTDIR); uninstall removes these and nothing else.
INSTALLED := \
	$(BINDIR)/torify \
	$(BINDIR)/torsocks \
	$(LIBDIR)/torify/libtorify.so \
	$(LIBDIR)/torify/torify-serve \
	$(SBINDIR)/torify-rescue \
	$(MANDIR)/man1/torify.1 \
	$(MANDIR)/man5/torify.toml.5 \
	$(MANDIR)/man8/libtorify.8 \
	$(MANDIR)/man8/torify-rescue.8 \
	$(DOCDIR)/torify.toml \
	$(BASHCOMPDIR)/torify \
	$(BASHCOMPDIR)/torsocks \
	$(ZSHCOMPDIR)/_torify \
	$(PKGCONFIGDIR)/torify.pc \
	$(SYSTEMDUSERUNITDIR)/torify.service \
	$(SYSTEMDUSERUNITDIR)/torify.socket

# The man pages name where this install puts things (they are written for /usr/local).
MANPATHS := -e 's|/usr/local/lib/torify|$(LIBDIR)/torify|g' \
	-e 's|/usr/local/lib/systemd/user|$(SYSTEMDUSERUNITDIR)|g' -e 's|/usr/local|$(PREFIX)|g'

.PHONY: all rescue install uninstall deb

all: rescue
	$(CARGO) build --release -p torify -p libtorify

rescue:
	RUSTFLAGS="-C target-feature=+crt-static" $(CARGO) build --release \
		--manifest-path rescue/Cargo.toml --target-dir $(CARGO_TARGET_DIR)/rescue

$(BUILT)/torify $(BUILT)/torify-serve $(BUILT)/libtorify.so $(RESCUE):
	@echo "$@ is missing: run make (cargo build --release) first, as yourself" >&2
	@exit 1

install: $(BUILT)/torify $(BUILT)/torify-serve $(BUILT)/libtorify.so $(RESCUE)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(LIBDIR)/torify $(DESTDIR)$(MANDIR)/man1 \
		$(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(DOCDIR) \
		$(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR) $(DESTDIR)$(PKGCONFIGDIR) \
		$(DESTDIR)$(SYSTEMDUSERUNITDIR)
	install -m 0755 $(BUILT)/torify $(DESTDIR)$(BINDIR)/torify
	ln -sf torify $(DESTDIR)$(BINDIR)/torsocks
	install -m 0644 $(BUILT)/libtorify.so $(DESTDIR)$(LIBDIR)/torify/libtorify.so
	install -m 0755 $(BUILT)/torify-serve $(DESTDIR)$(LIBDIR)/torify/torify-serve
	install -m 0755 $(RESCUE) $(DESTDIR)$(SBINDIR)/torify-rescue
	for page in man1/torify.1 man5/torify.toml.5 man8/libtorify.8 man8/torify-rescue.8; do \
		sed $(MANPATHS) man/$${page#*/} > $(DESTDIR)$(MANDIR)/$$page && \
		chmod 0644 $(DESTDIR)$(MANDIR)/$$page || exit 1; \
	done
	install -m 0644 conf/torify.toml $(DESTDIR)$(DOCDIR)/torify.toml
	$(BUILT)/torify completions bash > $(DESTDIR)$(BASHCOMPDIR)/torify
	$(BUILT)/torify completions bash > $(DESTDIR)$(BASHCOMPDIR)/torsocks
	$(BUILT)/torify completions zsh > $(DESTDIR)$(ZSHCOMPDIR)/_torify
	chmod 0644 $(DESTDIR)$(BASHCOMPDIR)/torify $(DESTDIR)$(BASHCOMPDIR)/torsocks \
		$(DESTDIR)$(ZSHCOMPDIR)/_torify
	printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$(LIBDIR)/torify' '' \
		'Name: torify' \
		'Description: Tor-only interception of a program'"'"'s network calls (link with it instead of LD_PRELOAD)' \
		'Version: $(VERSION)' \
		'Libs: -L$${libdir} -Wl,-rpath,$${libdir} -Wl,--no-as-needed -ltorify -Wl,--as-needed' \
		> $(DESTDIR)$(PKGCONFIGDIR)/torify.pc
	chmod 0644 $(DESTDIR)$(PKGCONFIGDIR)/torify.pc
	sed 's|@BINDIR@|$(BINDIR)|g' conf/torify.service > $(DESTDIR)$(SYSTEMDUSERUNITDIR)/torify.service
	install -m 0644 conf/torify.socket $(DESTDIR)$(SYSTEMDUSERUNITDIR)/torify.socket
	chmod 0644 $(DESTDIR)$(SYSTEMDUSERUNITDIR)/torify.service

uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))
	-rmdir $(DESTDIR)$(LIBDIR)/torify $(DESTDIR)$(DOCDIR) 2>/dev/null

# The Debian package, from what `make` built (packaging/deb/build: make install into a staging
# tree, then dpkg-deb; lintian checks it when installed, LINTIAN= skips that). It does not
# build either, and needs no root.
deb: $(BUILT)/torify $(BUILT)/torify-serve $(BUILT)/libtorify.so $(RESCUE)
	MAKE="$(MAKE)" packaging/deb/build $(CARGO_TARGET_DIR) $(DEBDIR)
