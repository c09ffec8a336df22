# The local limit for GRAPH=DEPTHxWIDTH runs (docs/PERFORMANCE.md § Scale):
#   /usr/bin/time nix-build bench/scale/nix-graph.nix --arg depth 100 --arg width 100 --argstr nonce "$(date +%s)" --no-out-link -j 8
# The bench/scale graph's shape (DEPTH layers of WIDTH; node (l, i) needs (l-1, i) and (l-1, i+1 mod WIDTH)),
# every node a trivial `/bin/sh -c 'echo l-i > $out'` for this machine's system.
{ depth ? 100, width ? 100, nonce ? "0" }:
let
  node = l: i: derivation ({
    name = "g-${toString l}-${toString i}";
    system = builtins.currentSystem;
    builder = "/bin/sh";
    args = [ "-c" "echo ${nonce}-${toString l}-${toString i} > $out" ];
  } // (if l == 0 then { } else {
    a = builtins.elemAt (builtins.elemAt layers (l - 1)) i;
    b = builtins.elemAt (builtins.elemAt layers (l - 1)) (if i + 1 == width then 0 else i + 1);
  }));
  layers = builtins.genList (l: builtins.genList (i: node l i) width) depth;
in builtins.elemAt layers (depth - 1)
