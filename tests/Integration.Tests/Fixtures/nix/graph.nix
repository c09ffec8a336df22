# The offload end-to-end graph (tests/Integration.Tests/Offload). Every builder is a static busybox that the test
# adds with `nix-store --add` (a folder with bin/busybox and bin/sh -> busybox) and passes as --argstr busybox.
# Outputs are deterministic (no timestamps, no randomness) so their NAR hashes equal nix-build's.
#
#   leaf-a   leaf-b   leaf-c  leaf-d             level 0: fan-out of four independent leaves
#       \     /          |      |
#       multi (out, dev) |      |                level 1: a multi-output derivation
#        /      \        |      |
#     mid-1    mid-2 ----+      |                level 2: mid-1 uses multi.out + leaf-c, mid-2 multi.dev + leaf-c
#        \      /               |
#          top -----------------+                level 3: top refers to both mids and leaf-d
#
# Extra attributes for single tests: `routed` (needs the system feature `feature`, so only a worker of the test's
# own with that mandatory feature takes it; its input is `chain`, which refers to leaf-c and leaf-d), `marked` (an output with a known
# marker string, for tampering), `failing` (exits 3 after logging a line), `slow` (sleeps longer than its timeout),
# `to-root` (an output that is a symlink to `/`, which Nix accepts).
# `salt` makes a disjoint copy of everything.
{ busybox, system ? builtins.currentSystem, salt ? "", feature ? "routed" }:
let
  bb = builtins.storePath busybox;
  mk = name: script: attrs: derivation ({
    inherit name system;
    builder = "${bb}/bin/sh";
    args = [ "-e" "-c" script ];
    PATH = "${bb}/bin";
    inherit salt;
  } // attrs);
  # The leaves sleep a little so that the fan-out is running on both one-slot workers at the same time.
  leaf = name: size: mk name ''
    mkdir -p $out/share
    echo "${name}" > $out/share/name
    i=0; while [ $i -lt ${toString size} ]; do echo "${name} line $i"; i=$((i+1)); done > $out/share/data
    sleep 2
  '' { };
  leaf-a = leaf "leaf-a" 200;
  leaf-b = leaf "leaf-b" 300;
  leaf-c = leaf "leaf-c" 400;
  leaf-d = leaf "leaf-d" 500;
  multi = mk "multi" ''
    mkdir -p $out/bin $dev/include
    cat ${leaf-a}/share/data ${leaf-b}/share/data > $out/bin/combined
    printf '#!/bin/sh\necho multi\n' > $out/bin/multi; chmod +x $out/bin/multi
    echo "#define MULTI \"$out\"" > $dev/include/multi.h
    ln -s $out/bin/multi $dev/multi-link
  '' { outputs = [ "out" "dev" ]; };
  mid-1 = mk "mid-1" ''
    mkdir -p $out
    wc -l ${multi}/bin/combined ${leaf-c}/share/data | sed 's|/nix/store/[a-z0-9]*-||' > $out/counts
    echo ${multi} > $out/refs
  '' { };
  mid-2 = mk "mid-2" ''
    mkdir -p $out
    cat ${multi.dev}/include/multi.h ${leaf-c}/share/name > $out/header
  '' { };
  top = mk "top" ''
    mkdir -p $out
    cat ${mid-1}/counts ${mid-2}/header ${leaf-d}/share/name > $out/summary
    echo ${mid-1} ${mid-2} > $out/refs
  '' { };
  chain = mk "chain" ''
    mkdir -p $out
    echo ${leaf-c} ${leaf-d} > $out/refs
    cat ${leaf-c}/share/data ${leaf-d}/share/data > $out/data
  '' { };
in {
  inherit chain leaf-a leaf-b leaf-c leaf-d multi mid-1 mid-2 top;
  routed = mk "routed-${feature}" ''
    mkdir -p $out
    cat ${chain}/refs ${chain}/data > $out/all
  '' { requiredSystemFeatures = [ feature ]; };
  marked = mk "marked" ''
    mkdir -p $out
    i=0; while [ $i -lt 100 ]; do echo "line $i tamper-me"; i=$((i+1)); done > $out/marked
  '' { };
  failing = mk "failing" ''
    echo "failing builder: about to exit 3"
    exit 3
  '' { };
  to-root = mk "to-root" ''
    ln -s / $out
  '' { };
  slow = mk "slow" ''
    echo "slow builder: sleeping"
    sleep 600
    mkdir -p $out
  '' { };
}
