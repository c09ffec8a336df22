# The derivation contract corpus (issue 19): each attribute is built by the real nix-build and by the worker's
# build path, and the outputs (or refusals) compared. @LATIN1@ is replaced by raw Latin-1 bytes (E9 FF) before
# nix-instantiate reads the file: Nix strings are bytes, and the worker must pass them through unchanged.
{ nonce, busybox, fodTreeHash ? "" }:
let
  bb = builtins.storePath busybox;
  mk = name: attrs: derivation ({
    name = "bf19-${name}-${nonce}";
    system = "x86_64-linux";
    builder = "${bb}/bin/sh";
  } // attrs);
  # The environment minus the variables naming the build directory (it differs between any two builds).
  dumpEnv = "${bb}/bin/busybox env | ${bb}/bin/busybox grep -v '^NIX_BUILD_TOP=\\|^TMPDIR=\\|^TEMPDIR=\\|^TMP=\\|^TEMP=\\|^PWD=\\|^textPath=\\|^NIX_ATTRS_.*_FILE=' | ${bb}/bin/busybox sort";
in rec {
  # 1. Strings are bytes: env values and arguments with Latin-1 bytes; 3. the whole environment Nix sets.
  env = mk "env" { latin = "caf@LATIN1@ au lait"; args = [ "-c" "(${dumpEnv}; echo arg=@LATIN1@) > $out" ]; };

  # 2. passAsFile: the value is in a file named by <name>Path, not in the environment.
  passAsFile = mk "pass" {
    text = "line one\nline two @LATIN1@\n";
    other = "stays in env";
    passAsFile = [ "text" ];
    args = [ "-c" "(${bb}/bin/busybox cat $textPath; echo \"text=\${text-unset} other=$other\"; ${dumpEnv}) > $out" ];
  };

  # An output that refers to busybox (an input path) and to nothing else.
  dep = mk "dep" { args = [ "-c" "echo ${bb} > $out" ]; };

  # 4. exportReferencesGraph: the closure of dep in nix-store --register-validity format.
  graph = mk "graph" {
    exportReferencesGraph = [ "closure" dep ];
    args = [ "-c" "${bb}/bin/busybox cat closure > $out" ];
  };

  # exportReferencesGraph naming a .drv: Nix 2.8 adds the closure of every output of each derivation in the closure.
  graphDrv = mk "graph-drv" {
    exportReferencesGraph = [ "closure" dep.drvPath ];
    args = [ "-c" "${bb}/bin/busybox cat closure > $out" ];
  };

  # An output referring to a fixed output (content-addressed: Nix records its `ca`).
  caDep = mk "ca-dep" { args = [ "-c" "echo ${fodFlat} > $out" ]; };

  # Structured reference graphs with content-addressed paths (the fixed output, busybox added by nix-store --add, the
  # .drv files) and a .drv whose outputs are added: path-info JSON with `ca` where the store records one.
  structuredGraphs = mk "structured-graphs" {
    __structuredAttrs = true;
    exportReferencesGraph = { fixed = [ caDep ]; drv = dep.drvPath; };
    args = [ "-c" "out=$(${bb}/bin/busybox sed 's/.*\"outputs\":{\"out\":\"\\([^\"]*\\)\".*/\\1/' .attrs.json); ${bb}/bin/busybox cat .attrs.json > $out" ];
  };

  # The builder's argv[0] is the base name of its path.
  argv0 = mk "argv0" { args = [ "-c" "echo \"argv0=$0\" > $out" ]; };

  # 5. __structuredAttrs: .attrs.json and .attrs.sh, and no plain attributes in the environment.
  structured = mk "structured" {
    __structuredAttrs = true;
    str = "it's \"quoted\"\ttab";
    int = 42;
    neg = -7;
    flt = 1.5;
    yes = true;
    no = false;
    nothing = null;
    list = [ "a" 1 true ];
    nested = { x = "y"; n = 3; };
    deep = { l = [ 1 2 ]; };
    exportReferencesGraph = { closure = [ dep ]; };
    args = [ "-c" "out=$(${bb}/bin/busybox sed 's/.*\"outputs\":{\"out\":\"\\([^\"]*\\)\".*/\\1/' .attrs.json); (${bb}/bin/busybox cat .attrs.json; echo; ${bb}/bin/busybox cat .attrs.sh; ${dumpEnv}) > $out" ];
  };

  # 3. impureEnvVars reach fixed-output derivations only (and NIX_OUTPUT_CHECKED=1 is set there).
  impure = mk "impure" {
    impureEnvVars = [ "BF19_IMPURE" ];
    outputHashMode = "flat";
    outputHashAlgo = "sha256";
    outputHash = "@IMPURE_HASH@";
    args = [ "-c" "echo -n \"$BF19_IMPURE$NIX_OUTPUT_CHECKED\" > $out" ];
  };
  impureIgnored = mk "impure-ignored" {
    impureEnvVars = [ "BF19_IMPURE" ];
    args = [ "-c" "echo \"impure=\${BF19_IMPURE-unset} checked=\${NIX_OUTPUT_CHECKED-unset}\" > $out" ];
  };

  # 6. References between outputs and to itself, in every output.
  multi = mk "multi" {
    outputs = [ "out" "lib" ];
    args = [ "-c" "${bb}/bin/busybox mkdir $lib; echo $lib > $lib/self; echo $lib > $out" ];
  };
  # Outputs referring to each other: Nix refuses the cycle.
  cycle = mk "cycle" {
    outputs = [ "out" "lib" ];
    args = [ "-c" "echo $out > $lib; echo $lib > $out" ];
  };

  # 6. Output checks: passes (self-references ignored in requisites) and refusals with Nix's messages.
  selfRef = mk "selfref" { allowedRequisites = [ ]; args = [ "-c" "echo $out > $out" ]; };
  allowedRefs = mk "allowed-refs" { allowedReferences = [ ]; args = [ "-c" "echo ${bb} > $out" ]; };
  allowedRefsOk = mk "allowed-refs-ok" { allowedReferences = [ bb ]; args = [ "-c" "echo ${bb} > $out" ]; };
  disallowedReqs = mk "disallowed-reqs" { disallowedRequisites = [ bb ]; args = [ "-c" "echo ${dep} > $out" ]; };
  disallowedRefs = mk "disallowed-refs" { disallowedReferences = [ dep ]; args = [ "-c" "echo ${dep} > $out" ]; };
  badSpec = mk "bad-spec" { allowedReferences = [ "nonsense" ]; args = [ "-c" "echo x > $out" ]; };
  maxSize = mk "max-size" {
    __structuredAttrs = true;
    outputChecks.out.maxSize = 10;
    args = [ "-c" "out=$(${bb}/bin/busybox sed 's/.*\"outputs\":{\"out\":\"\\([^\"]*\\)\".*/\\1/' .attrs.json); echo 'more than ten bytes' > $out" ];
  };
  maxClosure = mk "max-closure" {
    __structuredAttrs = true;
    outputChecks.out = { maxClosureSize = 100000000; allowedReferences = [ bb ]; };
    args = [ "-c" "out=$(${bb}/bin/busybox sed 's/.*\"outputs\":{\"out\":\"\\([^\"]*\\)\".*/\\1/' .attrs.json); echo ${bb} > $out" ];
  };

  maxClosureBad = mk "max-closure-bad" {
    __structuredAttrs = true;
    outputChecks.out.maxClosureSize = 1000;
    args = [ "-c" "out=$(${bb}/bin/busybox sed 's/.*\"outputs\":{\"out\":\"\\([^\"]*\\)\".*/\\1/' .attrs.json); echo ${bb} > $out" ];
  };

  # 8. Fixed outputs, checked as Nix checks them: right ones (flat, hash computed by Nix itself, as algo:hex; recursive,
  # the NAR hash nix-hash gives the same tree, fodTreeHash, in nix32), a wrong one, a flat directory, and one that
  # refers to an input (Nix 2.8 registers it under another path; the worker refuses it, as later Nix does).
  fodFlat = mk "fod-flat" {
    outputHash = "sha256:${builtins.hashString "sha256" "fixed-flat\n"}";
    args = [ "-c" "echo fixed-flat > $out" ];
  };
  fodRecursive = mk "fod-recursive" {
    outputHashMode = "recursive";
    outputHashAlgo = "sha256";
    outputHash = fodTreeHash;
    args = [ "-c" "${bb}/bin/busybox mkdir $out; echo fixed-recursive > $out/a; ${bb}/bin/busybox ln -s a $out/l" ];
  };
  fodBad = mk "fod-bad" {
    outputHashAlgo = "sha256";
    outputHash = builtins.hashString "sha256" "fixed-flat\n";
    args = [ "-c" "echo tampered > $out" ];
  };
  fodDir = mk "fod-dir" {
    outputHashAlgo = "sha256";
    outputHash = builtins.hashString "sha256" "fixed-flat\n";
    args = [ "-c" "${bb}/bin/busybox mkdir $out" ];
  };
  fodRef = mk "fod-ref" {
    outputHashMode = "recursive";
    outputHashAlgo = "sha256";
    outputHash = builtins.hashString "sha256" "";
    args = [ "-c" "${bb}/bin/busybox mkdir $out; echo ${bb} > $out/a" ];
  };

  # 7. A builtin builder: refused by the worker (documented in docs/offload.md).
  builtin = derivation { name = "bf19-builtin-${nonce}"; system = "x86_64-linux"; builder = "builtin:buildenv"; manifest = "x"; derivations = [ ]; };
}
