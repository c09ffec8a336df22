using BuildFarm.Store.Local;
using BuildFarm.Worker.Supervision;

namespace BuildFarm.Worker.Sandbox;

/// <summary>
/// The host side of one build's private root, beside its build directory (<c>BUILD.sandbox/</c>, root's, 0711):
/// <c>store/</c> is the store directory the builder sees (root:build-group 1775 as in Nix, inputs bind-mounted into
/// it read-only, outputs created in it), <c>tmp/</c> its /tmp, and the bubblewrap option and command files (root's,
/// 0600; opened before the uid changes). What every build reads the same (the launcher, the seccomp program, /etc) is
/// shared (<see cref="SandboxShared"/>). The build directory itself is handed to the build user. Dispose takes
/// everything back and deletes the area.
/// </summary>
internal sealed class SandboxArea : IDisposable
{
    private const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode Traversable = Private | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;

    private readonly string _buildDir;

    private SandboxArea(string root, string buildDir) => (Root, _buildDir) = (root, buildDir);

    public string Root { get; }

    public string Store => Path.Combine(Root, "store");

    public string Tmp => Path.Combine(Root, "tmp");

    /// <summary>
    /// Where the worker lays out the builder's root in the build's private mount namespace (<see cref="RootPlan"/>):
    /// the store directory's own path, covered there by the root (which reaches the directory on disk by a
    /// descriptor), so the root costs no directory on disk of its own; in the worker's namespace, the store directory.
    /// </summary>
    public string View => Store;

    /// <summary>The overlay's work directory when <see cref="StoreView"/> lays the store directory out (made by it).</summary>
    public string Work => Path.Combine(Root, "work");

    public string ArgsFile => Path.Combine(Root, "args");

    public string CommandFile => Path.Combine(Root, "command");

    public static SandboxArea Create(BuilderSpec spec, long uid)
    {
        var area = new SandboxArea(spec.BuildDir + ".sandbox", spec.BuildDir);
        if (Directory.Exists(area.Root))
            area.Delete();
        // Bubblewrap resolves every bind source as the build user: the way down to the build directory must be open to it.
        var parent = Path.GetDirectoryName(spec.BuildDir)!;
        if ((File.GetUnixFileMode(parent) & UnixFileMode.OtherExecute) == 0)
            File.SetUnixFileMode(parent, File.GetUnixFileMode(parent) | UnixFileMode.OtherExecute);
        Directory.CreateDirectory(area.Root, Traversable);
        Directory.CreateDirectory(area.Store, Private);
        Ownership.Change(area.Store, Ownership.WorkerUid, uid);
        File.SetUnixFileMode(area.Store, Private | UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
            | UnixFileMode.OtherRead | UnixFileMode.OtherExecute | UnixFileMode.StickyBit);
        // Modes before owners: once a directory is the build user's, only CAP_FOWNER could change its mode.
        Directory.CreateDirectory(area.Tmp, Private);
        File.SetUnixFileMode(area.Tmp, Private | UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
            | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute | UnixFileMode.StickyBit);
        Ownership.Change(area.Tmp, uid, uid);
        File.SetUnixFileMode(spec.BuildDir, Private);
        Ownership.ChangeTree(spec.BuildDir, uid, uid);
        return area;
    }

    /// <summary>
    /// Moves the output at <paramref name="storeName"/> (if the builder made it) to <paramref name="target"/>, owned by
    /// the worker again. Every process of the build is gone by now (its PID namespace died with the builder), so
    /// nothing can change the tree between the owner change and the move.
    /// </summary>
    public bool Claim(string storeName, string target)
    {
        var made = Path.Combine(Store, storeName);
        if (new FileInfo(made).LinkTarget is null && !Path.Exists(made))
            return false;
        Ownership.ChangeTree(made, Ownership.WorkerUid, Ownership.WorkerGid);
        try
        {
            Directory.Move(made, target);
        }
        catch (IOException) when (Path.Exists(made))
        {
            // Another file system: copy (the store's own copy: no symlink followed, nothing special accepted); the
            // original goes with the area.
            StoreFiles.Copy(made, target, CancellationToken.None);
        }

        return true;
    }

    /// <summary>Gives the build directory back to the worker (which deletes it) and deletes the private root.</summary>
    public void Dispose()
    {
        if (Directory.Exists(_buildDir))
            Ownership.ChangeTree(_buildDir, Ownership.WorkerUid, Ownership.WorkerGid);
        Delete();
    }

    private void Delete()
    {
        if (!Directory.Exists(Root))
            return;
        // The builder may have left read-only or mode-000 directories: take them back (opened) before deleting.
        Ownership.ChangeTree(Root, Ownership.WorkerUid, Ownership.WorkerGid);

        Directory.Delete(Root, recursive: true);
    }
}
