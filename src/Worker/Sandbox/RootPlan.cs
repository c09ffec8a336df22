using static BuildFarm.Worker.Sandbox.MountCalls;

namespace BuildFarm.Worker.Sandbox;

/// <summary>A directory or file bound into the private root: <paramref name="Target"/> is inside it ("/build").</summary>
internal readonly record struct RootBind(string Source, string Target, bool ReadOnly);

/// <summary>
/// The builder's whole root, laid out by the worker in the build's private mount namespace (see <see cref="StoreView"/>)
/// instead of by bubblewrap: a tmpfs at <paramref name="Mountpoint"/> holding <paramref name="Binds"/> (the build
/// directory, /tmp, /etc), the store directory at <paramref name="Store"/>, bubblewrap's <c>--dev</c> as it makes it
/// (a read-only tmpfs with null, zero, full, random, urandom and tty bound from the host, the stdio symlinks, a private
/// devpts and a /dev/shm tmpfs of <paramref name="ShmBytes"/>), and an empty mount point for each of the mounts
/// bubblewrap still makes (<paramref name="MountPoints"/>: /proc, the operator's extra paths, devices, a fixed-output
/// build's /etc files), all read-only, nosuid and nodev but for the devices. Bubblewrap binds it as its root once.
/// </summary>
/// <remarks>
/// Why: bubblewrap 0.8 re-reads the whole of <c>/proc/self/mountinfo</c> after each bind it makes, and with the closure
/// mounted that table holds every input, twice once the store directory is bound: its dozen binds of a build's root
/// (/build, /tmp, the store, /etc, six devices, two read-only remounts) read about 5,000 lines for a 200-input
/// closure, a third of a build's CPU. Here it reads the table once.
/// </remarks>
internal sealed record RootPlan(string Mountpoint, string Store, IReadOnlyList<RootBind> Binds, IReadOnlyList<(string Path, bool Directory)> MountPoints, long ShmBytes)
{
    private static readonly string[] DeviceNodes = ["null", "zero", "full", "random", "urandom", "tty"];

    private const UnixFileMode Open = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute
        | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;

    /// <summary>The path of <paramref name="inside"/> (absolute, as the builder sees it) under the mount point.</summary>
    public string Outside(string inside) => Mountpoint + inside;

    /// <summary>
    /// Mounts everything but the store directory's contents, which <paramref name="mountStore"/> puts at the path it
    /// is given once /build and /tmp are in place (a store directory under either is then mounted on top, not hidden).
    /// </summary>
    public void MountAll(Action<string> mountStore)
    {
        Mount("tmpfs", Mountpoint, "tmpfs", MsNoSuid | MsNoDev, "mode=0755", "mount the sandbox's root");
        foreach (var bind in Binds.Where(b => !b.ReadOnly))
            Bind(bind);
        var store = Outside(Store);
        Directory.CreateDirectory(store, Open);
        mountStore(store);
        foreach (var bind in Binds.Where(b => b.ReadOnly))
            Bind(bind);
        MountDev(Outside("/dev"));
        foreach (var (path, directory) in MountPoints)
        {
            var outside = Outside(path);
            if (directory)
            {
                Directory.CreateDirectory(outside, Open);
                continue;
            }

            Directory.CreateDirectory(Path.GetDirectoryName(outside)!, Open);
            if (!File.Exists(outside))
                MakeFile(outside);
        }

        // As bubblewrap's --remount-ro /dev and --remount-ro /: the mounts themselves, not what is mounted on them.
        Mount(null, Outside("/dev"), null, MsRemount | MsBind | MsRdOnly | MsNoSuid | MsNoDev, null, "make the sandbox's /dev read-only");
        Mount(null, Mountpoint, null, MsRemount | MsBind | MsRdOnly | MsNoSuid | MsNoDev, null, "make the sandbox's root read-only");
    }

    private void Bind(RootBind bind)
    {
        var target = Outside(bind.Target);
        if (Directory.Exists(bind.Source))
            Directory.CreateDirectory(target, Open);
        else
            MakeFile(target);
        Mount(bind.Source, target, null, MsBind | MsRec, null, $"bind {bind.Source} into the sandbox");
        Mount(null, target, null, MsRemount | MsBind | MsNoSuid | MsNoDev | (bind.ReadOnly ? MsRdOnly : 0), null, $"set the flags of {bind.Target} in the sandbox");
    }

    /// <summary>What bubblewrap's <c>--dev</c>, <c>--remount-ro /dev</c> and <c>--tmpfs /dev/shm</c> make (bubblewrap 0.8's order and flags).</summary>
    private void MountDev(string dev)
    {
        Directory.CreateDirectory(dev, Open);
        Mount("tmpfs", dev, "tmpfs", MsNoSuid | MsNoDev, "mode=0755", "mount the sandbox's /dev");
        foreach (var node in DeviceNodes)
        {
            var target = Path.Combine(dev, node);
            MakeFile(target);
            Mount($"/dev/{node}", target, null, MsBind | MsRec, null, $"bind /dev/{node} into the sandbox");
            Mount(null, target, null, MsRemount | MsBind | MsNoSuid, null, $"set the flags of /dev/{node} in the sandbox");
        }

        string[] stdio = ["stdin", "stdout", "stderr"];
        for (var i = 0; i < stdio.Length; i++)
            File.CreateSymbolicLink(Path.Combine(dev, stdio[i]), $"/proc/self/fd/{i}");
        File.CreateSymbolicLink(Path.Combine(dev, "fd"), "/proc/self/fd");
        File.CreateSymbolicLink(Path.Combine(dev, "core"), "/proc/kcore");
        Directory.CreateDirectory(Path.Combine(dev, "shm"), Open);
        Directory.CreateDirectory(Path.Combine(dev, "pts"), Open);
        Mount("devpts", Path.Combine(dev, "pts"), "devpts", MsNoSuid | MsNoExec, "newinstance,ptmxmode=0666,mode=620", "mount the sandbox's /dev/pts");
        File.CreateSymbolicLink(Path.Combine(dev, "ptmx"), "pts/ptmx");
        Mount("tmpfs", Path.Combine(dev, "shm"), "tmpfs", MsNoSuid | MsNoDev,
            string.Create(System.Globalization.CultureInfo.InvariantCulture, $"mode=1777,size={ShmBytes}"), "mount the sandbox's /dev/shm");
    }
}
