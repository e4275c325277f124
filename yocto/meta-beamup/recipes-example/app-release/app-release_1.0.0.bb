SUMMARY = "Example: a BEAM application's release installed for beamupd to keep up to date"
DESCRIPTION = "Installs a release tarball built outside Yocto (mix release with the tar step, \
rebar3 tar, or systools:make_tar, with ERTS built for the target) into /opt/app, with the unit \
that runs its node. beamupd then hot-upgrades it with signed bundles of later versions."
LICENSE = "CLOSED"

# The release tarball, built for the target architecture, in this recipe's
# files/ directory of your bbappend: app-${PV}.tar.gz.
SRC_URI = "file://app-${PV}.tar.gz;unpack=0 \
           file://app.service \
          "

inherit systemd useradd

USERADD_PACKAGES = "${PN}"
USERADD_PARAM:${PN} = "--system --home-dir /opt/app --no-create-home --shell /sbin/nologin app"

SYSTEMD_SERVICE:${PN} = "app.service"
SYSTEMD_AUTO_ENABLE:${PN} = "enable"

do_install() {
    install -d ${D}/opt/app
    tar -xzf ${WORKDIR}/app-${PV}.tar.gz -C ${D}/opt/app --no-same-owner
    # beamupd prepares releases/RELEASES on the device before the first
    # upgrade; the release root belongs to the node's user.
    chown -R app:app ${D}/opt/app
    install -d ${D}${systemd_system_unitdir}
    install -m 0644 ${WORKDIR}/app.service ${D}${systemd_system_unitdir}/
}

FILES:${PN} = "/opt/app ${systemd_system_unitdir}/app.service"
# A release carries prebuilt ERTS and NIFs: do not strip or check them.
INSANE_SKIP:${PN} = "already-stripped ldflags file-rdeps"
INHIBIT_PACKAGE_STRIP = "1"
