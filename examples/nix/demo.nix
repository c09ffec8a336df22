# The graph `./farm demo` builds (examples/graph, written as a Nix expression): a plain
#   nix-build examples/nix/demo.nix --max-jobs 0 --option build-hook .farm/nix-hook --option substituters ''
# hands every derivation to the farm. No network: every builder is the machine's static busybox, imported from
# busyboxDir (only the file `busybox` of it), so the paths are the same on every run of one machine.
# `--argstr nonce X` renames every derivation (fresh paths: the tests use it, the demo does not).
{ busyboxDir ? /usr/bin, nonce ? "" }:
let
  busybox = builtins.path {
    name = "busybox";
    path = busyboxDir;
    filter = path: _type: baseNameOf path == "busybox";
  };
  # argv[0] is the builder's file name, `busybox`: `busybox sh -e -c SCRIPT` runs its applets without a PATH.
  mk = name: script: attrs: derivation ({
    name = if nonce == "" then "demo-${name}" else "demo-${nonce}-${name}";
    system = "x86_64-linux";
    builder = "${busybox}/busybox";
    args = [ "sh" "-e" "-c" script ];
  } // attrs);
in let
  # Level 0: a fan-out of four leaves.
  greeting = mk "greeting" "mkdir -p $out/share; echo 'Hello from the BuildFarm demo' > $out/share/greeting; sleep 1" { };
  numbers = mk "numbers" "mkdir -p $out/share; seq 1 500 > $out/share/numbers; sleep 1" { };
  # Fixed-output: its path depends on the name and the hash only, and Nix checks the farm's result against the hash.
  words = mk "words" "for w in nix guix rabbit queue worker store origin sandbox; do echo $w; done > $out; sleep 1" {
    outputHashMode = "flat";
    outputHashAlgo = "sha256";
    outputHash = "3b7e361b9911c6c7591f714883c57a0c5dc653cb8174f9858984d154c36c0d2a";
  };
  legacy-i686 = mk "legacy-i686" "mkdir -p $out; echo \"built for $system\" > $out/platform; sleep 1" { system = "i686-linux"; };

  # Level 1.
  banner = mk "banner" "mkdir -p $out; tr a-z A-Z < ${greeting}/share/greeting > $out/banner; sort ${words} | tr '\\n' ' ' >> $out/banner; echo >> $out/banner" { };
  # Two outputs: `out` (the report) and `check` (the sum alone, which vm-test reads).
  stats = mk "stats" ''
    mkdir -p $out; n=$(wc -l < ${numbers}/share/numbers); s=0
    while read i; do s=$((s+i)); done < ${numbers}/share/numbers
    w=$(wc -l < ${words}); printf 'numbers: %s\nsum: %s\nwords: %s\n' $n $s $w > $out/stats; echo $s > $check
  '' { outputs = [ "out" "check" ]; };

  # Level 2: only a worker offering `kvm` may build it.
  vm-test = mk "vm-test" "mkdir -p $out; grep -qx 125250 ${stats.check}; grep -q HELLO ${banner}/banner; echo 'vm-test passed (needs kvm)' > $out/result; sleep 1" {
    requiredSystemFeatures = [ "kvm" ];
  };

  # Level 3: the top (the default target).
  release = mk "release" "mkdir -p $out; cat ${banner}/banner ${stats}/stats ${vm-test}/result ${legacy-i686}/platform > $out/summary; echo ${stats} ${banner} ${vm-test} ${legacy-i686} > $out/refs" { };
in
release // { inherit greeting numbers words legacy-i686 banner stats vm-test; }
