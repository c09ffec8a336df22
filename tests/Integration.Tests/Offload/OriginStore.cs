using System.Globalization;
using BuildFarm.Testing;

namespace BuildFarm.Integration.Tests.Offload;

/// <summary>
/// The origin: a BuildFarm store (logical /nix/store) under its own physical root, served by a real sshd whose login
/// runs <see cref="RemoteCommand"/>, a shell wrapper around the real <c>artifacts/bin/buildfarm</c>. The wrapper
/// records every call in <c>calls.log</c> and has test hooks switched by files in <see cref="ControlDirectory"/>:
/// <c>tamper</c> flips one byte of a <c>quarantine-put</c> upload (and refuses <c>quarantine-serve</c> as an old
/// buildfarm would, so the worker falls back to quarantine-put) (the first "tamper-me" becomes "Xamper-me"),
/// <c>truncate</c> passes on only half of it, <c>hold-export</c> makes the next <c>store export</c> announce itself in
/// <c>export-held</c> and hang (until sshd is stopped under it).
/// </summary>
internal sealed class OriginStore
{
    /// <param name="dir">Where the store root, the control files and the wrapper go.</param>
    /// <param name="signingKeyFile">
    /// When set, the wrapper runs buildfarm with <c>--signing-key-file</c>: the origin signs every path it exports, as
    /// the dispatcher's default RemoteCommand does, so paths imported unsigned are served signed.
    /// </param>
    public OriginStore(string dir, string? signingKeyFile = null)
    {
        Root = Path.Combine(dir, "root");
        ControlDirectory = Path.Combine(dir, "control");
        // Named buildfarm: origin-serve accepts only a buildfarm program at the head of the worker's command.
        RemoteCommand = Path.Combine(dir, "bin", "buildfarm");
        Directory.CreateDirectory(Path.Combine(dir, "bin"));
        Directory.CreateDirectory(Root);
        Directory.CreateDirectory(ControlDirectory);
        File.WriteAllText(RemoteCommand, WrapperScript(RepoPaths.Buildfarm, Root, ControlDirectory, signingKeyFile is null ? "" : "--signing-key-file '" + signingKeyFile + "'"));
        File.SetUnixFileMode(RemoteCommand, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute);
    }

    public string Root { get; }

    public string ControlDirectory { get; }

    /// <summary>What the dispatcher tells workers to run on the origin (stands for <c>buildfarm --store-dir … --root …</c>).</summary>
    public string RemoteCommand { get; }

    /// <summary>
    /// The forced command of the workers' key in the origin sshd's authorized_keys: the wrapper again, which, started
    /// without arguments, takes the worker's command from <c>SSH_ORIGINAL_COMMAND</c> for its hooks and hands it to
    /// <c>buildfarm origin-serve</c> (so every farm test returns outputs and pulls inputs through origin-serve).
    /// </summary>
    public string ForcedCommand => RemoteCommand;

    public string CallsLog => Path.Combine(ControlDirectory, "calls.log");

    public string HooksLog => Path.Combine(ControlDirectory, "hooks.log");

    /// <summary><c>artifacts/bin/buildfarm</c> with this store's flags.</summary>
    public Task<ProcessResult> RunAsync(params string[] args) =>
        ProcessRunner.RunAsync(RepoPaths.Buildfarm, ["--store-dir", StoreContents.StoreDir, "--root", Root, .. args], timeout: TimeSpan.FromMinutes(3));

    /// <summary>
    /// <c>nix-store --export $(nix-store -qR DRVS) | buildfarm store import --no-check-sigs</c>, then, with
    /// <paramref name="secretKeyFile"/>, signs every imported path with it (the origin's key, which workers trust for
    /// inputs); without, the paths stay unsigned (the origin's exports sign them: the manual path of docs/offload.md).
    /// </summary>
    public async Task<string[]> ImportFromNixAsync(IEnumerable<string> drvs, string? secretKeyFile)
    {
        var closure = await NixGraph.DrvClosureAsync(drvs);
        var archive = await NixOracle.RunBytesAsync("nix-store", ["--export", .. closure]);
        var import = await ProcessRunner.RunAsync(
            RepoPaths.Buildfarm,
            ["--store-dir", StoreContents.StoreDir, "--root", Root, "store", "import", "--no-check-sigs"],
            stdin: archive,
            timeout: TimeSpan.FromMinutes(3));
        import.EnsureSuccess("buildfarm store import --no-check-sigs (origin)");
        if (secretKeyFile is not null)
            (await RunAsync(["store", "sign", "--key-file", secretKeyFile, .. closure])).EnsureSuccess("buildfarm store sign (origin)");
        return closure;
    }

    public Task<StoreContents> ReadContentsAsync() => StoreContents.ReadAsync(Root);

    /// <summary>Switches a wrapper hook on (<c>tamper</c>, <c>truncate</c>, <c>hold-export</c>).</summary>
    public void Arm(string hook) => File.WriteAllText(Path.Combine(ControlDirectory, hook), "");

    public void Disarm(string hook) => File.Delete(Path.Combine(ControlDirectory, hook));

    /// <summary>The wrapper's call log, one line per call: its arguments.</summary>
    public IReadOnlyList<string> Calls() => File.Exists(CallsLog) ? File.ReadAllLines(CallsLog) : [];

    public IReadOnlyList<string> HookFirings() => File.Exists(HooksLog) ? File.ReadAllLines(HooksLog) : [];

    /// <summary>Waits until the <c>hold-export</c> hook holds an export.</summary>
    public async Task WaitExportHeldAsync(TimeSpan timeout)
    {
        var marker = Path.Combine(ControlDirectory, "export-held");
        var deadline = DateTime.UtcNow + timeout;
        while (!File.Exists(marker))
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException(string.Create(CultureInfo.InvariantCulture, $"no store export reached the origin within {timeout}; calls: {string.Join(" | ", Calls())}"));
            await Task.Delay(100);
        }
    }

    private static string WrapperScript(string buildfarm, string root, string control, string signing) => $$"""
        #!/bin/sh
        # RemoteCommand of the offload tests: the real buildfarm on the origin store, with hooks (see OriginStore.cs).
        CTL='{{control}}'
        BF='{{buildfarm}}'
        serve=""
        if [ $# -eq 0 ] && [ -n "${SSH_ORIGINAL_COMMAND:-}" ]; then
          # Forced command: split (no globbing, no eval) only to see the verb; origin-serve checks and runs it.
          set -f; set -- $SSH_ORIGINAL_COMMAND; set +f; shift
          serve=1
        fi
        echo "$*" >> "$CTL/calls.log"
        bf() { if [ -n "$serve" ]; then "$BF" --store-dir /nix/store --root '{{root}}' {{signing}} origin-serve; else "$BF" --store-dir /nix/store --root '{{root}}' {{signing}} "$@"; fi; }
        run() { if [ -n "$serve" ]; then exec "$BF" --store-dir /nix/store --root '{{root}}' {{signing}} origin-serve; else exec "$BF" --store-dir /nix/store --root '{{root}}' {{signing}} "$@"; fi; }
        case "$2" in
          export)
            if [ -e "$CTL/hold-export" ]; then
              rm -f "$CTL/hold-export"; echo "hold-export $*" >> "$CTL/hooks.log"; touch "$CTL/export-held"
              exec sleep 600
            fi ;;
          quarantine-serve)
            # The hooks work on quarantine-put: while one is set, play an origin too old for quarantine-serve so
            # the worker falls back to quarantine-put (which proves that fallback too).
            if [ -e "$CTL/tamper" ] || [ -e "$CTL/truncate" ]; then
              echo "Unrecognized command or argument 'quarantine-serve'." >&2; exit 1
            fi ;;
          quarantine-put)
            if [ -e "$CTL/tamper" ] || [ -e "$CTL/truncate" ]; then
              tmp="$CTL/upload.$$"
              cat > "$tmp"
              if [ -e "$CTL/tamper" ]; then
                off=$(grep -obUa 'tamper-me' "$tmp" | head -n 1 | cut -d: -f1)
                if [ -n "$off" ]; then
                  printf X | dd of="$tmp" bs=1 seek="$off" conv=notrunc status=none
                  echo "tamper offset $off $*" >> "$CTL/hooks.log"
                fi
              else
                size=$(stat -c %s "$tmp")
                head -c $((size / 2)) "$tmp" > "$tmp.half"; mv "$tmp.half" "$tmp"
                echo "truncate $size $*" >> "$CTL/hooks.log"
              fi
              bf "$@" < "$tmp"; rc=$?
              rm -f "$tmp"; exit $rc
            fi ;;
        esac
        run "$@"

        """;
}
