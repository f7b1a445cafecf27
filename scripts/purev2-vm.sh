#!/usr/bin/env bash
# `make check-purev2`: prove airlock's cgroup limits on a pure cgroup-v2 host, from any host.
#
# Boots Debian's stock kernel under QEMU (TCG: no /dev/kvm needed) with only cgroup2 mounted
# at /sys/fs/cgroup, runs this checkout's airlockd inside, and runs tests/purev2/check.py
# there.  The guest's root is this host's "/" shared read-only over virtio-9p (so the guest
# uses build/, the host's python3 and the cached busybox image); /tmp, /run, /var/tmp are
# tmpfs; airlockd's state dir is a sparse ext4 disk (virtio-blk), because image layers are
# mounted idmapped and 9p cannot do that.  Exits 0 only when every check passed.
#
# Kernel: linux-image-amd64 (its linux-image-6.x-amd64 dependency); the -cloud flavour has no
# 9p.  Under TCG the kernel needs tsc_early_khz (the host's TSC) or it hangs calibrating.
#
# Env: PUREV2_WORK (default /tmp/airlock-purev2: downloads, initramfs, disk), BUILD (default
# build), PUREV2_TIMEOUT (seconds for the whole VM run, default 600), PUREV2_SMP (default 2),
# PUREV2_MEM_MB (default 2048), PUREV2_ACCEL (tcg, the default, or kvm).  `scripts/purev2-vm.sh --prepare` stops before the boot.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
work=${PUREV2_WORK:-/tmp/airlock-purev2}
build=${BUILD:-build}
vm_timeout=${PUREV2_TIMEOUT:-600}
smp=${PUREV2_SMP:-2}
mem=${PUREV2_MEM_MB:-2048}
say() { printf '== purev2: %s\n' "$*"; }
die() { printf 'purev2: %s\n' "$*" >&2; echo "PURE-V2 SUMMARY: FAIL (setup: $*)"; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (installs packages)"
case $build in /*) ;; *) build=$top/$build ;; esac

# --- host tools --------------------------------------------------------------------------
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
command -v depmod >/dev/null || need+=(kmod)
command -v cpio >/dev/null || need+=(cpio)
command -v mkfs.ext4 >/dev/null || need+=(e2fsprogs)
[ -x /bin/busybox ] && /bin/busybox --list | grep -qx switch_root || need+=(busybox-static)
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}" \
    >"$work.apt.log" 2>&1 || { tail -20 "$work.apt.log"; die "apt-get install failed"; }
fi

# --- airlock build -----------------------------------------------------------------------
if [ ! -f "$build/build.ninja" ]; then
  say "meson setup $build"
  meson setup "$build" >/dev/null
fi
say "ninja -C $build"
nice -n 10 ninja -C "$build" -j1 >/dev/null || die "build failed (ninja -C $build)"
for f in src/daemon/airlockd src/agent/airlock-init; do
  [ -x "$build/$f" ] || die "missing $build/$f"
done

# --- kernel ------------------------------------------------------------------------------
mkdir -p "$work/deb"
kdir=$work/kernel
if [ ! -f "$kdir/.done" ]; then
  say "downloading the kernel (linux-image-amd64)"
  rm -rf "$kdir" "$work/deb"/*.deb
  (cd "$work/deb" && apt-get download linux-image-amd64 >/dev/null 2>&1) ||
    die "apt-get download linux-image-amd64"
  dep=$(dpkg-deb -f "$work"/deb/linux-image-amd64_*.deb Depends | sed 's/ (.*//; s/,.*//')
  (cd "$work/deb" && apt-get download "$dep" >/dev/null 2>&1) || die "apt-get download $dep"
  mkdir -p "$kdir"
  dpkg-deb -x "$work"/deb/"$dep"_*.deb "$kdir"
  touch "$kdir/.done"
fi
kver=$(basename "$(ls -d "$kdir"/lib/modules/*)")
vmlinuz=$kdir/boot/vmlinuz-$kver
[ -f "$kdir/lib/modules/$kver/modules.dep" ] || depmod -b "$kdir" "$kver"

# --- initramfs: busybox, the modules for virtio/9p/ext4/overlay/loop, /init ---------------
say "initramfs for $kver"
ird=$work/initramfs
rm -rf "$ird"
mkdir -p "$ird"/{bin,dev,proc,sys,newroot,lib/modules}
cp /bin/busybox "$ird/bin/busybox"
mods=(virtio_pci virtio_blk 9pnet_virtio 9p overlay ext4 loop)
: >"$ird/modules"
for m in "${mods[@]}"; do
  modprobe -d "$kdir" -S "$kver" --show-depends "$m" | awk '$1 == "insmod" {print $2}'
done | awk '!seen[$0]++' | while read -r ko; do
  cp "$ko" "$ird/lib/modules/"
  echo "$(basename "$ko")" >>"$ird/modules"
done
sed "s|@REPO@|$top|g; s|@BUILD@|$build|g" >"$ird/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
echo "purev2-init: kernel up after $(cut -d' ' -f1 /proc/uptime) s"
for m in $(cat /modules); do
  insmod /lib/modules/$m 2>/dev/null || echo "purev2-init: insmod $m failed (built in or unneeded CPU feature?)"
done
fail() { echo "purev2-init: $*"; echo "PURE-V2 SUMMARY: FAIL (guest setup: $*)"; echo o >/proc/sysrq-trigger; sleep 10; }
i=0
while [ ! -b /dev/vda ] && [ $i -lt 50 ]; do sleep 0.2; i=$((i + 1)); done
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=262144 hostroot /newroot ||
  fail "mount 9p root"
R=/newroot
mount -t proc proc $R/proc
mount -t sysfs sys $R/sys
mount -t devtmpfs dev $R/dev
mkdir -p $R/dev/pts $R/dev/shm 2>/dev/null
mount -t devpts -o newinstance,ptmxmode=0666 devpts $R/dev/pts
mount -t tmpfs tmpfs $R/dev/shm
# the checkout and its build may live under a dir that gets a tmpfs here (a CI clone in
# /tmp): hold them aside and bind them back on top
mkdir -p /keep/repo /keep/build
mount --bind $R@REPO@ /keep/repo || fail "bind @REPO@"
mount --bind $R@BUILD@ /keep/build || fail "bind @BUILD@"
for d in tmp run var/tmp; do mount -t tmpfs -o mode=1777 tmpfs $R/$d || fail "tmpfs $d"; done
for k in repo:@REPO@ build:@BUILD@; do
  if [ ! -e "$R${k#*:}/." ]; then
    mkdir -p "$R${k#*:}" && mount --bind "/keep/${k%%:*}" "$R${k#*:}" || fail "rebind ${k#*:}"
  fi
done
# only cgroup2, nothing of v1: the point of this VM
mount -t cgroup2 cgroup2 $R/sys/fs/cgroup || fail "mount cgroup2"
mkdir -p $R/run/airlock-state
mount -t ext4 /dev/vda $R/run/airlock-state || fail "mount the state disk"
ip link set lo up
echo "purev2-init: root ready after $(cut -d' ' -f1 /proc/uptime) s"
exec switch_root $R /bin/sh -c '
  /usr/bin/python3 @REPO@/tests/purev2/check.py --build @BUILD@ --state /run/airlock-state/state
  echo "purev2-init: check exited $? after $(cut -d" " -f1 /proc/uptime) s"
  sync; umount /run/airlock-state 2>/dev/null
  echo o >/proc/sysrq-trigger; sleep 30'
INIT
chmod 0755 "$ird/init"
(cd "$ird" && find . | cpio -o -H newc --quiet | gzip -1) >"$work/initramfs.gz"

# --- state disk --------------------------------------------------------------------------
rm -f "$work/state.img"
truncate -s 4G "$work/state.img"
mkfs.ext4 -q -F -E lazy_itable_init=1,lazy_journal_init=1 "$work/state.img"

[ "${1:-}" = --prepare ] && { say "prepared in $work (--prepare: not booting)"; exit 0; }

# --- TSC frequency (TCG: the kernel hangs at boot without it) ------------------------------
tsc_khz=$(dmesg 2>/dev/null | sed -n 's/.*tsc: Detected \([0-9.]*\) MHz.*/\1/p' | head -1)
[ -n "$tsc_khz" ] || tsc_khz=$(awk -F: '/^cpu MHz/ {print $2; exit}' /proc/cpuinfo)
tsc_khz=$(awk -v m="$tsc_khz" 'BEGIN {printf "%d", m * 1000}')
[ "$tsc_khz" -gt 0 ] || die "cannot read the host's TSC frequency"

# TCG by default: it works everywhere.  KVM is opt-in (PUREV2_ACCEL=kvm): on the nested-KVM
# host this was written on, -cpu max aborts (MSR 0x10a) and -cpu host hangs before the kernel.
accel=${PUREV2_ACCEL:-tcg}
cpu=max
[ "$accel" = kvm ] && cpu=host,arch-capabilities=off
say "booting $kver ($accel, ${smp} vCPUs, ${mem} MiB, tsc_early_khz=$tsc_khz); serial log $work/console.log"
start=$(date +%s)
set +e
timeout "$vm_timeout" qemu-system-x86_64 \
  -machine q35,accel=$accel -cpu "$cpu" -smp "$smp" -m "$mem" \
  -nodefaults -no-user-config -nographic -no-reboot -serial stdio -monitor none \
  -kernel "$vmlinuz" -initrd "$work/initramfs.gz" \
  -append "console=ttyS0 tsc_early_khz=$tsc_khz panic=-1 quiet loglevel=3 rdinit=/init" \
  -fsdev local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap \
  -device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot \
  -drive file="$work/state.img",if=virtio,format=raw,cache=unsafe \
  </dev/null 2>&1 | tee "$work/console.log"
qrc=${PIPESTATUS[0]}
set -e
end=$(date +%s)
rm -f "$work/state.img"
say "VM ran $((end - start)) s (qemu exit $qrc)"
[ "$qrc" = 124 ] && { echo "PURE-V2 SUMMARY: FAIL (VM timed out after ${vm_timeout}s)"; exit 1; }
if grep -q '^PURE-V2 SUMMARY: PASS' "$work/console.log" &&
  ! grep -q '^PURE-V2 CHECK .*: FAIL' "$work/console.log"; then
  exit 0
fi
grep -q '^PURE-V2 SUMMARY:' "$work/console.log" || echo "PURE-V2 SUMMARY: FAIL (no result from the guest)"
exit 1
