using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace BuildFarm.Worker.Sandbox;

/// <summary>
/// Puts a build's input closure into the store directory its builder will see, before bubblewrap runs: a thread of
/// its own leaves the worker's mount namespace for a private copy (nothing propagating back to the host), binds each
/// input directory or file read-only (and nosuid, nodev) onto a mount point in the build's store directory, copies
/// each symlink as a symlink (as Nix's sandbox does), keeps a descriptor of that namespace and goes back. The
/// launcher joins the namespace by that descriptor (<see cref="SandboxLauncher"/>'s MOUNTNS), so bubblewrap, and in
/// it the builder, find the closure already in place.
/// </summary>
/// <remarks>
/// <para>
/// Why: bubblewrap 0.8 re-reads the whole mount table after every bind it makes, so one <c>--ro-bind</c> per input
/// costs time quadratic in the closure (measured here: 4 ms of set-up for one input, 13 ms for 50, 72 ms for 200; a
/// stdenv closure has hundreds). Here each input costs one mount and one remount, and bubblewrap binds the store
/// directory once.
/// </para>
/// <para>
/// Why a descriptor and not a child started from that thread: a namespace belongs to a thread, and every thread the
/// runtime starts from it (a process start and its pipes start some) would inherit it and run the worker's later
/// work there. The thread does system calls only and returns to the worker's namespace before it ends.
/// </para>
/// <para>
/// Safety: the mounts exist only in the private namespace, which dies once the descriptor is closed and the build's
/// last process is gone. Inside the builder's user namespace they come from a more privileged namespace, so the
/// kernel locks them: the builder can neither unmount one (to see the mount point under it) nor make it writable.
/// The mount points are root's and the store directory is sticky, so the builder cannot remove or replace them.
/// </para>
/// </remarks>
internal static class StoreView
{
    private const int CloneNewNs = 0x00020000;
    private const int ReadOnlyCloseOnExec = 0x80000;
    private const ulong MsRdOnly = 1, MsNoSuid = 2, MsNoDev = 4, MsRemount = 32, MsBind = 4096, MsRec = 16384, MsPrivate = 1 << 18;

    private static readonly Lazy<bool> LazySupported = new(() =>
    {
        try
        {
            using var probe = OnPrivateThread(() => { });
            return true;
        }
        catch (IOException)
        {
            return false;
        }
    });

    /// <summary>Whether this process may make private mount namespaces (root with CAP_SYS_ADMIN): tried once.</summary>
    public static bool Supported => LazySupported.Value;

    /// <summary>
    /// A private mount namespace in which <paramref name="storeDir"/> holds the inputs named
    /// <paramref name="inputNames"/> from <paramref name="physicalStore"/>; dispose it once the build is over.
    /// </summary>
    /// <exception cref="IOException">An input is missing or could not be mounted.</exception>
    public static SafeFileHandle Create(string physicalStore, IReadOnlyCollection<string> inputNames, string storeDir)
    {
        foreach (var name in inputNames)
        {
            var source = Path.Combine(physicalStore, name);
            if (new FileInfo(source).LinkTarget is null && !Path.Exists(source))
                throw new IOException($"input '{name}' is not in the physical store {physicalStore}");
        }

        return OnPrivateThread(() =>
        {
            foreach (var name in inputNames)
                Place(Path.Combine(physicalStore, name), Path.Combine(storeDir, name));
        });
    }

    /// <summary>The path the launcher opens to join <paramref name="view"/>.</summary>
    public static string PathOf(SafeFileHandle view) =>
        $"/proc/{Environment.ProcessId}/fd/{view.DangerousGetHandle()}";

    private static void Place(string source, string target)
    {
        var info = new FileInfo(source);
        if (info.LinkTarget is { } link)
        {
            // As Nix: a symlink in the store is the symlink, not what it points to.
            File.CreateSymbolicLink(target, link);
            return;
        }

        if (Directory.Exists(source))
            Directory.CreateDirectory(target, UnixFileMode.UserRead | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute
                | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        else
            new FileStream(target, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead }).Dispose();
        Mount(source, target, null, MsBind | MsRec, $"bind {source}");
        Mount(null, target, null, MsRemount | MsBind | MsRdOnly | MsNoSuid | MsNoDev, $"make {target} read-only");
    }

    /// <summary>
    /// Runs <paramref name="fill"/> on a new thread inside a fresh private mount namespace and returns a descriptor
    /// of that namespace; the thread has returned to this process's namespace before it ends.
    /// </summary>
    private static SafeFileHandle OnPrivateThread(Action fill)
    {
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
                    if (NativeUnshare(CloneNewNs) != 0)
                        throw new IOException($"cannot make a private mount namespace: errno {Marshal.GetLastPInvokeError()}");
                    moved = true;
                    Mount(null, "/", null, MsRec | MsPrivate, "make the private mount namespace private");
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
                    if (moved && NativeSetns(home!.DangerousGetHandle().ToInt32(), CloneNewNs) != 0)
                        Environment.FailFast($"cannot return a thread to the worker's mount namespace: errno {Marshal.GetLastPInvokeError()}");
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

    private static SafeFileHandle Open(string path)
    {
        var fd = NativeOpen(path, ReadOnlyCloseOnExec);
        return fd >= 0 ? new SafeFileHandle(fd, ownsHandle: true) : throw new IOException($"cannot open {path}: errno {Marshal.GetLastPInvokeError()}");
    }

    private static void Mount(string? source, string target, string? type, ulong flags, string what)
    {
        if (NativeMount(source, target, type, flags, IntPtr.Zero) != 0)
            throw new IOException($"cannot {what}: errno {Marshal.GetLastPInvokeError()}");
    }

#pragma warning disable SYSLIB1054 // LibraryImport would need unsafe code for the whole project.
    [DllImport("libc", EntryPoint = "unshare", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int NativeUnshare(int flags);

    [DllImport("libc", EntryPoint = "setns", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int NativeSetns(int fd, int nstype);

    [DllImport("libc", EntryPoint = "open", SetLastError = true, CharSet = CharSet.Ansi, BestFitMapping = false, ThrowOnUnmappableChar = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int NativeOpen(string path, int flags);

    [DllImport("libc", EntryPoint = "mount", SetLastError = true, CharSet = CharSet.Ansi, BestFitMapping = false, ThrowOnUnmappableChar = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int NativeMount(string? source, string target, string? type, ulong flags, IntPtr data);
#pragma warning restore SYSLIB1054
}
