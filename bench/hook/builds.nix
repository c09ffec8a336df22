# The bench's derivations (bench/hook/run.sh, bench/hook/farm-ab.sh): n trivial busybox builds, independent or layered.
{ n, nonce, busybox, width ? 0, refs ? true }:
let
  node = name: text: deps: derivation ({
    inherit name; system = "x86_64-linux";
    builder = "${builtins.storePath busybox}/busybox"; args = [ "sh" "-c" "echo ${text} > $out" ];
  } // deps);
  # width > 0: n / width layers of width nodes, each node of a layer needing two of the layer below. With refs, a
  # node's output names its two inputs (its closure grows with the depth); without, it only depends on them.
  layers = builtins.genList (l: builtins.genList (i:
    let
      below = builtins.elemAt layers (l - 1);
      a = builtins.elemAt below i;
      b = builtins.elemAt below (if i + 1 == width then 0 else i + 1);
      label = "${nonce}-${toString l}-${toString i}";
    in node "hookbench-${toString l}-${toString i}"
      (if l == 0 || !refs then label else "${label}-${a}-${b}")
      (if l == 0 || refs then { } else { inherit a b; })
  ) width) (n / width);
in
if width == 0 then builtins.genList (i: node "hookbench-${toString i}" "${nonce}-${toString i}" { }) n
else builtins.concatLists layers
