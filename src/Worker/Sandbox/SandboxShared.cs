using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using BuildFarm.Worker.Execution;

namespace BuildFarm.Worker.Sandbox;

/// <summary>
/// The files every sandboxed build of a worker reads the same, written once into a directory of root's beside the
/// build directories (<c>BUILDS/.sandbox-shared/</c>, 0711) instead of into every build's area: the launcher (0500),
/// <see cref="ArgvZeroExec"/>'s program (0555), the seccomp program (0400) and the <c>/etc</c> Nix gives builders
/// (<c>passwd</c>, <c>group</c>, <c>hosts</c>: 0444 in a 0755 directory, bound read-only as the builder's /etc).
/// </summary>
/// <remarks>
/// Each name carries a hash of its content, so a worker upgraded to other code never runs a file an older one left,
/// and each file is written under a temporary name and renamed, so a file that exists is whole. Only root writes
/// here: a build user can neither change what the next build runs nor see more than it is given. A file found
/// missing (an operator cleaned the directory) is written again before the build that needs it.
/// </remarks>
internal sealed class SandboxShared
{
    public const string DirectoryName = ".sandbox-shared";

    /// <summary>Exactly what Nix 2.8 writes (sandboxUid 1000, sandboxGid 100, home /build).</summary>
    private static readonly (string Name, string Text)[] EtcFiles =
    [
        ("passwd", "root:x:0:0:Nix build user:/build:/noshell\nnixbld:x:1000:100:Nix build user:/build:/noshell\nnobody:x:65534:65534:Nobody:/:/noshell\n"),
        ("group", "root:x:0:\nnixbld:!:100:\nnogroup:x:65534:\n"),
        ("hosts", "127.0.0.1 localhost\n::1 localhost\n"),
    ];

    private const UnixFileMode Traversable = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
        | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;

    private const UnixFileMode Readable = UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    private const UnixFileMode Listable = Traversable | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    /// <summary>Per directory and seccomp program: the program is one of <see cref="SeccompProgram"/>'s two arrays, so its reference tells them apart.</summary>
    private static readonly ConcurrentDictionary<(string Root, byte[] Seccomp), SandboxShared> ByDirectory = new();

    private readonly Lock _gate = new();
    private readonly byte[] _seccomp;
    private bool _prepared;

    private SandboxShared(string root, byte[] seccomp)
    {
        Root = root;
        _seccomp = seccomp;
        Seccomp = Path.Combine(root, "seccomp-" + Tag(seccomp));
        Launcher = Path.Combine(root, "launcher-" + Tag(SandboxLauncher.Program));
        ArgvZero = Path.Combine(root, "argv0-" + Tag(ArgvZeroExec.Program));
        Etc = Path.Combine(root, "etc-" + Tag(Encoding.UTF8.GetBytes(string.Concat(EtcFiles.Select(f => f.Name + "\0" + f.Text + "\0")))));
    }

    public string Root { get; }

    /// <summary>The seccomp program (root's, 0400: opened by the launcher before the uid changes).</summary>
    public string Seccomp { get; }

    /// <summary><see cref="SandboxLauncher"/>'s program (root's, 0500: run as root, changed by no one else).</summary>
    public string Launcher { get; }

    /// <summary><see cref="ArgvZeroExec"/>'s program (root's, 0555: opened as fd 5 before the uid changes).</summary>
    public string ArgvZero { get; }

    /// <summary>The builder's /etc: Nix's passwd, group and hosts.</summary>
    public string Etc { get; }

    /// <summary>The shared files beside <paramref name="buildDir"/> for <paramref name="settings"/>, written where missing.</summary>
    /// <exception cref="IOException">They cannot be written.</exception>
    public static SandboxShared For(string buildDir, SandboxSettings settings)
    {
        var key = (Path.Combine(Path.GetDirectoryName(buildDir)!, DirectoryName), SeccompProgram.For(settings));
        var shared = ByDirectory.GetOrAdd(key, k => new SandboxShared(k.Root, k.Seccomp));
        shared.Prepare();
        return shared;
    }

    private void Prepare()
    {
        // A stat per file per build: cheaper than writing them, and a directory cleaned under a running worker heals.
        if (Volatile.Read(ref _prepared) && File.Exists(Seccomp) && File.Exists(Launcher) && File.Exists(ArgvZero)
            && EtcFiles.All(f => File.Exists(Path.Combine(Etc, f.Name))))
            return;
        lock (_gate)
        {
            if (!_prepared)
            {
                // The first use in this process: whatever is there is made root's and closed to others again, and
                // every file is rewritten (renamed over), so nothing another process left is trusted unread.
                Directory.CreateDirectory(Root, Traversable);
                Ownership.Change(Root, Ownership.WorkerUid, Ownership.WorkerGid);
                File.SetUnixFileMode(Root, Traversable);
                PlaceAll(rewrite: true);
                Volatile.Write(ref _prepared, true);
                return;
            }

            Directory.CreateDirectory(Root, Traversable);
            PlaceAll(rewrite: false);
        }
    }

    /// <summary>Every shared file: all of them written when <paramref name="rewrite"/>, else only those missing.</summary>
    private void PlaceAll(bool rewrite)
    {
        Place(Seccomp, _seccomp, UnixFileMode.UserRead, rewrite);
        Place(Launcher, SandboxLauncher.Program, UnixFileMode.UserRead | UnixFileMode.UserExecute, rewrite);
        Place(ArgvZero, ArgvZeroExec.Program, Readable | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute, rewrite);
        if (rewrite && Directory.Exists(Etc))
            Directory.Delete(Etc, recursive: true);
        Directory.CreateDirectory(Etc, Listable);
        File.SetUnixFileMode(Etc, Listable);
        foreach (var (name, text) in EtcFiles)
            Place(Path.Combine(Etc, name), new UTF8Encoding(false).GetBytes(text), Readable, rewrite);
    }

    /// <summary>Writes <paramref name="bytes"/> to a temporary name beside <paramref name="path"/> and renames it there.</summary>
    private static void Place(string path, byte[] bytes, UnixFileMode mode, bool rewrite)
    {
        if (!rewrite && File.Exists(path))
            return;
        var temporary = $"{path}.tmp-{Environment.ProcessId}-{Guid.NewGuid():N}";
        try
        {
            using (var file = new FileStream(temporary, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = mode }))
                file.Write(bytes);
            File.Move(temporary, path, overwrite: true);
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    private static string Tag(byte[] content) => Convert.ToHexStringLower(SHA256.HashData(content))[..16];
}
