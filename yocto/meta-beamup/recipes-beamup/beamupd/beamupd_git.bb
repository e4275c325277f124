SUMMARY = "beamupd: signed, verified hot upgrades of a BEAM node, with automatic revert"
DESCRIPTION = "The device agent of beamup. It receives signed release bundles over MQTT, \
a serial console or a file, hot-upgrades the local BEAM node through OTP's release_handler, \
checks its health, commits, and goes back to the previous release by itself on failure."
HOMEPAGE = "https://github.com/beamup/beamup"
SECTION = "admin"
LICENSE = "Apache-2.0"
LIC_FILES_CHKSUM = "file://src/${GO_IMPORT}/LICENSE;md5=19cbd64715b51267a47bf3750cc6a8a5"

SRC_URI = "git://github.com/beamup/beamup.git;protocol=https;branch=main \
           file://beamupd.toml \
          "
# Pin a release in your image: SRCREV = "<commit>" in a bbappend.
SRCREV ?= "${AUTOREV}"
PV = "0.1+git${SRCPV}"

GO_IMPORT = "github.com/beamup/beamup"
GO_INSTALL = "${GO_IMPORT}/cmd/beamupd"
# go-mod fetches the Go modules of go.sum during do_compile.
inherit go-mod systemd

# A static binary with its version stamped, as make cross builds it.
export CGO_ENABLED = "0"
GO_LINKSHARED = ""
GO_EXTRA_LDFLAGS:append = " -s -w -X main.version=${PV} -X main.commit=${SRCREV}"

# The minisign public keys that release bundles must be signed with: file
# names in a bbappend's files/ directory, such as "release.pub". Several
# keys allow rotation. There is no default: beamupd installs nothing it
# cannot verify, so an image without keys does not build.
BEAMUP_PUBLIC_KEYS ??= ""
# The board id bundles name in their "compatible" list.
BEAMUP_BOARD ??= "${MACHINE}"
# The BEAM node beamupd keeps up to date.
BEAMUP_NODE_NAME ??= "app@127.0.0.1"
BEAMUP_RELEASE_ROOT ??= "/opt/app"
BEAMUP_RELEASE_NAME ??= "app"
BEAMUP_NODE_CONTROL ??= "systemd:app.service"
BEAMUP_MQTT_BROKER ??= ""

python () {
    keys = (d.getVar('BEAMUP_PUBLIC_KEYS') or '').split()
    if not keys:
        raise bb.parse.SkipRecipe("set BEAMUP_PUBLIC_KEYS to the minisign public keys release bundles are signed with")
    for k in keys:
        d.appendVar('SRC_URI', ' file://%s' % k)
}

SYSTEMD_SERVICE:${PN} = "beamupd.service"
SYSTEMD_AUTO_ENABLE:${PN} = "enable"

# beamupd runs as root (see beamupd.service): it restarts the node's unit
# over D-Bus, replaces its own binary, and writes into the release root.
do_install:append() {
    # Self-update replaces the binary with a rename in its own directory,
    # which the unit makes writable; /usr/bin/beamupd points to it.
    install -d ${D}${prefix}/lib/beamup
    mv ${D}${bindir}/beamupd ${D}${prefix}/lib/beamup/beamupd
    ln -sf ../lib/beamup/beamupd ${D}${bindir}/beamupd

    install -d ${D}${systemd_system_unitdir}
    install -m 0644 ${S}/src/${GO_IMPORT}/systemd/beamupd.service ${D}${systemd_system_unitdir}/

    install -d -m 0755 ${D}${sysconfdir}/beamup/keys
    keys=""
    for k in ${BEAMUP_PUBLIC_KEYS}; do
        install -m 0644 ${WORKDIR}/$k ${D}${sysconfdir}/beamup/keys/$k
        keys="$keys\"${sysconfdir}/beamup/keys/$k\", "
    done
    sed -e "s|@PUBLIC_KEYS@|${keys%, }|" \
        -e "s|@BOARD@|${BEAMUP_BOARD}|" \
        -e "s|@NODE_NAME@|${BEAMUP_NODE_NAME}|" \
        -e "s|@RELEASE_ROOT@|${BEAMUP_RELEASE_ROOT}|" \
        -e "s|@RELEASE_NAME@|${BEAMUP_RELEASE_NAME}|" \
        -e "s|@NODE_CONTROL@|${BEAMUP_NODE_CONTROL}|" \
        -e "s|@MQTT_BROKER@|${BEAMUP_MQTT_BROKER}|" \
        ${WORKDIR}/beamupd.toml > ${D}${sysconfdir}/beamup/beamupd.toml
    if [ -z "${BEAMUP_MQTT_BROKER}" ]; then
        sed -i -e '/^\[mqtt\]/,$d' ${D}${sysconfdir}/beamup/beamupd.toml
    fi
    chmod 0600 ${D}${sysconfdir}/beamup/beamupd.toml
}

FILES:${PN} += "${sysconfdir}/beamup ${systemd_system_unitdir}/beamupd.service ${prefix}/lib/beamup"
CONFFILES:${PN} = "${sysconfdir}/beamup/beamupd.toml"
