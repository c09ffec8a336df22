using Microsoft.Win32.SafeHandles;
using static BuildFarm.Worker.Sandbox.MountCalls;

namespace BuildFarm.Worker.Sandbox;

/// <summary>
/// Lays out a build's root, its input closure in the store directory included, before bubblewrap runs: a thread of
/// its own leaves the worker's mount namespace for a private copy (nothing propagating back to the host), mounts the
/// root there (<see cref="RootPlan"/>), keeps a descriptor of that namespace and goes back. The launcher joins the
/// namespace by that descriptor (<see cref="SandboxLauncher"/>'s MOUNTNS), so bubblewrap binds the finished root once
/// and the builder finds the closure in place.
/// </summary>
/// <remarks>
/// <para>
/// Why: bubblewrap 0.8 re-reads the whole mount table after every bind it makes, so one <c>--ro-bind</c> per input
/// costs time quadratic in the closure (measured here: 4 ms of set-up for one input, 13 ms for 50, 72 ms for 200; a
/// stdenv closure has hundreds). Here each input costs one mount, and bubblewrap binds the root once.
/// </para>
/// <para>
/// The layout, in the private namespace only: the build's store directory on disk (where the builder creates its
/// outputs, and the worker finds them) becomes the upper layer of an overlay whose lower layer is a fresh tmpfs
/// holding one mount point per input (and each input symlink, copied as a symlink as Nix does); each input is bound
/// onto its mount point, and one <c>mount_setattr</c> makes every bind read-only, nosuid and nodev. Why not mount
/// points on disk: on this kind of host (ext4 without a journal, <c>discard</c>) creating and deleting a directory per
/// input per build cost more than everything else of the set-up together (<c>recently_deleted</c> scans of the inode
/// table on every create, a synchronous discard on every delete: 35 % and 10 % of a 200-input build's CPU). A
/// store directory the overlay cannot use as its upper layer (one on an overlay itself, as in a container), or an
/// older kernel that refuses one of these calls (a detached tmpfs as a layer; checked on 6.18), falls back to mount
/// points on disk, made and remounted one by one, from then on.
/// </para>
/// <para>
/// Why a descriptor and not a child started from that thread: a namespace belongs to a thread, and every thread the
/// runtime starts from it (a process start and its pipes start some) would inherit it and run the worker's later
/// work there. The thread makes synchronous file and mount calls only (no process, no pipe, no task) and returns to
/// the worker's namespace before it ends. The runtime itself also starts threads lazily from whichever thread needs
/// them: the background GC's (a collection the thread's allocations trigger after that thread idled out) and tiered
/// compilation's (off in the worker's configuration), so background collections are turned off before the first
/// private thread (<see cref="RuntimeThreads"/>). Any thread started from the private thread shares its file system context, so the
/// kernel then refuses the way back (EINVAL) and the worker stops at once, naming that thread: never a thread left
/// running the worker's work in a build's namespace.
/// </para>
/// <para>
/// Safety: the mounts exist only in the private namespace, which dies once the descriptor is closed and the build's
/// last process is gone. Inside the builder's user namespace they come from a more privileged namespace, so the
/// kernel locks them: the builder can neither unmount one (to see the mount point under it) nor make it writable.
/// The mount points and symlinks are root's and the store directory is sticky, so the builder cannot remove or
/// replace them; the tmpfs under them is reachable only through them.
/// </para>
/// </remarks>
internal static class StoreView
{
    private const UnixFileMode ReadAndSearch = UnixFileMode.UserRead | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute
        | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;

    private const UnixFileMode ReadOnly = UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    /// <summary>
    /// The smallest closure that gets the overlay: it makes five entries on disk of its own (its work directory, the
    /// overlay's <c>work</c> and its volatile marker's three), a closure on disk one per input.
    /// </summary>
    public const int OverlayFrom = 6;

    private static readonly Lazy<bool> LazySupported = new(() =>
    {
        try
        {
            using var probe = OnPrivateThread(() => { });
            return true;
        }
        catch (IOException e)
        {
            s_unsupported = e.Message;
            return false;
        }
    });

    private static string? s_unsupported;

    // Cleared by the first build whose overlay could not be made: the machine's kernel or file system will not
    // change while the worker runs, and each failed try costs a tmpfs.
    private static volatile bool s_overlay = true;
    private static string? s_overlayFailure;

    private enum Kind
    {
        Directory,
        File,
        Symlink,
    }

    /// <summary>
    /// Whether this process may make private mount namespaces (root with CAP_SYS_ADMIN, no runtime thread that could
    /// start inside one: <see cref="RuntimeThreads"/>): tried once.
    /// </summary>
    public static bool Supported => LazySupported.Value;

    /// <summary>Why <see cref="Supported"/> is false; null while it is true or not yet tried.</summary>
    public static string? Unsupported => Supported ? null : s_unsupported;

    /// <summary>Whether closures of <see cref="OverlayFrom"/> or more get mount points on a tmpfs (false once that failed here: then on disk).</summary>
    public static bool MountPointsInMemory => s_overlay;

    /// <summary>Why the mount points are on disk, once a build found out; null until then.</summary>
    public static string? OverlayFailure => s_overlayFailure;

    /// <summary>
    /// A private mount namespace in which <paramref name="root"/> is laid out, its store directory holding the inputs
    /// named <paramref name="inputNames"/> from <paramref name="physicalStore"/> and the outputs the builder makes in
    /// <paramref name="storeDir"/>; dispose it once the build's processes are gone, before its outputs are taken out of
    /// <paramref name="storeDir"/>.
    /// </summary>
    /// <remarks>
    /// <paramref name="workDir"/>: a path beside <paramref name="storeDir"/> (same file system) that the overlay may
    /// use; <paramref name="overlay"/> false: mount points on disk (<see cref="SandboxSettings.OverlayStore"/>).
    /// </remarks>
    /// <exception cref="IOException">An input is missing or could not be mounted, or the root could not be made.</exception>
    public static SafeFileHandle Create(string physicalStore, IReadOnlyCollection<string> inputNames, string storeDir, string workDir, RootPlan root, bool overlay = true)
    {
        var inputs = new List<(string Name, string Source, Kind Kind, string? Link)>(inputNames.Count);
        foreach (var name in inputNames)
        {
            var source = Path.Combine(physicalStore, name);
            var info = new FileInfo(source);
            var attributes = info.Attributes;
            if ((int)attributes == -1)
                throw new IOException($"input '{name}' is not in the physical store {physicalStore}");
            if ((attributes & FileAttributes.ReparsePoint) != 0 && info.LinkTarget is { } link)
                inputs.Add((name, source, Kind.Symlink, link));
            else
                inputs.Add((name, source, (attributes & FileAttributes.Directory) != 0 ? Kind.Directory : Kind.File, null));
        }

        if (overlay && s_overlay && inputs.Count >= OverlayFrom)
        {
            try
            {
                return OnPrivateThread(() => Fill(inputs, storeDir, workDir, root, overlay: true));
            }
            catch (OverlayUnavailableException e)
            {
                // This machine cannot: that namespace is gone with its mounts; this build, and every later one, on disk.
                s_overlayFailure = e.Message;
                s_overlay = false;
            }
        }

        return OnPrivateThread(() => Fill(inputs, storeDir, workDir, root, overlay: false));
    }

    /// <summary>The path the launcher opens to join <paramref name="view"/>.</summary>
    public static string PathOf(SafeFileHandle view) =>
        $"/proc/{Environment.ProcessId}/fd/{view.DangerousGetHandle()}";

    /// <summary>
    /// Lays out the root in this thread's private namespace. The root's tmpfs covers the store directory's own path
    /// (<see cref="SandboxArea.View"/>: no directory on disk of its own), so the store directory on disk is reached by
    /// a descriptor opened before: the overlay's upper layer, or, without the overlay, the directory bound into the
    /// root, its mount points made and mounted on through that bind.
    /// </summary>
    private static void Fill(List<(string Name, string Source, Kind Kind, string? Link)> inputs, string storeDir, string workDir, RootPlan root, bool overlay)
    {
        using var lower = overlay ? Lower(inputs) : null;
        using var store = Open(storeDir);
        root.MountAll(at =>
        {
            if (lower is null)
            {
                // Not recursive: the root's own tmpfs is mounted on that directory too. The mount points are made
                // through the bind, in the directory on disk.
                Mount(FdPath(store), at, null, MsBind, null, "bind the store directory into the sandbox");
                Mount(null, at, null, MsRemount | MsBind | MsNoSuid | MsNoDev, null, "set the flags of the sandbox's store directory");
                OnDisk(inputs, at);
                return;
            }

            try
            {
                Directory.CreateDirectory(workDir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
                using var work = Open(workDir);
                // Every layer by descriptor: no escaping of the option string, and no host path in the overlay's
                // options, which the builder can read in /proc/self/mountinfo. Volatile: an overlay syncs its upper
                // layer's whole file system when it goes (the host's root file system here, dirty with everyone's
                // writes: 30 ms of wall time per build); the outputs are the store's to make durable once claimed, as
                // they were without it.
                Mount("overlay", at, "overlay", MsNoSuid | MsNoDev,
                    $"lowerdir={FdPath(lower)},upperdir={FdPath(store)},workdir={FdPath(work)},volatile", "mount the store directory's overlay");
            }
            catch (IOException e)
            {
                throw new OverlayUnavailableException(e.Message);
            }

            // An input that cannot be bound once the overlay is in place is the input's problem, not the machine's.
            foreach (var (name, source, kind, _) in inputs)
            {
                if (kind != Kind.Symlink)
                    Mount(source, Path.Combine(at, name), null, MsBind | MsRec, null, $"bind {source}");
            }

            // Two calls for the whole closure instead of a remount per input: everything below the store directory
            // read-only, then the store directory itself (the overlay, where outputs are made) writable again.
            SetAttributes(at, recursive: true, AttrRdOnly | AttrNoSuid | AttrNoDev, 0, "make the inputs read-only");
            SetAttributes(at, recursive: false, 0, AttrRdOnly, "make the store directory writable");
        });
    }

    /// <summary>The overlay's lower layer: a detached tmpfs holding a mount point per input and each input symlink.</summary>
    private static SafeFileHandle Lower(List<(string Name, string Source, Kind Kind, string? Link)> inputs)
    {
        SafeFileHandle? lower = null;
        try
        {
            lower = NewTmpfs("0755");
            foreach (var (name, _, kind, link) in inputs)
            {
                if (kind == Kind.Symlink)
                    MakeSymlink(lower, name, link!);
                else if (kind == Kind.Directory)
                    MakeDirectory(lower, name, ReadAndSearch);
                else
                    MakeFile(lower, name, ReadOnly);
            }

            return lower;
        }
        catch (IOException e)
        {
            lower?.Dispose();
            throw new OverlayUnavailableException(e.Message);
        }
    }

    /// <summary>A mount point per input in the store directory on disk, each bound and remounted read-only.</summary>
    private static void OnDisk(List<(string Name, string Source, Kind Kind, string? Link)> inputs, string storeDir)
    {
        foreach (var (name, source, kind, link) in inputs)
        {
            var target = Path.Combine(storeDir, name);
            if (kind == Kind.Symlink)
            {
                File.CreateSymbolicLink(target, link!);
                continue;
            }

            if (kind == Kind.Directory)
                Directory.CreateDirectory(target, ReadAndSearch);
            else
                MakeFile(target);
            Mount(source, target, null, MsBind | MsRec, null, $"bind {source}");
            Mount(null, target, null, MsRemount | MsBind | MsRdOnly | MsNoSuid | MsNoDev, null, $"make {target} read-only");
        }
    }

    private static string FdPath(SafeFileHandle fd) => $"/proc/thread-self/fd/{fd.DangerousGetHandle()}";

    /// <summary>This machine cannot make the overlay (its kernel, or the store directory's file system).</summary>
    private sealed class OverlayUnavailableException(string message) : IOException(message);

    /// <summary>
    /// Runs <paramref name="fill"/> on a new thread inside a fresh private mount namespace and returns a descriptor
    /// of that namespace; the thread has returned to this process's namespace before it ends.
    /// </summary>
    private static SafeFileHandle OnPrivateThread(Action fill)
    {
        // Before any private thread exists: no background GC thread can then start inside one.
        RuntimeThreads.NoBackgroundGc();
        SafeFileHandle? view = null;
        Exception? failure = null;
        var thread = new Thread(
            () =>
            {
                SafeFileHandle? home = null;
                var moved = false;
                try
                {
                    home = Open("/proc/thread-self/ns/mnt");
                    // Only this thread moves (CLONE_NEWNS implies CLONE_FS, which a thread may unshare alone).
                    if (Unshare(CloneNewNs) != 0)
                        throw new IOException($"cannot make a private mount namespace: errno {Errno}");
                    moved = true;
                    Mount(null, "/", null, MsRec | MsPrivate, null, "make the private mount namespace private");
                    fill();
                    view = Open("/proc/thread-self/ns/mnt");
                }
                catch (Exception e)
                {
                    failure = e;
                }
                finally
                {
                    // Back home, or the process dies: a thread left in the private namespace could run later work there.
                    if (moved && Setns(home!.DangerousGetHandle().ToInt32(), CloneNewNs) != 0)
                        Environment.FailFast($"cannot return a thread to the worker's mount namespace: errno {Errno} ({RuntimeThreads.SharingNamespace()})");
                    home?.Dispose();
                }
            },
            maxStackSize: 256 * 1024) { IsBackground = true, Name = "sandbox-store-view" };
        thread.Start();
        thread.Join();
        if (failure is not null)
        {
            view?.Dispose();
            throw failure as IOException ?? new IOException(failure.Message, failure);
        }

        return view!;
    }
}
