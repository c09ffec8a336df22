using System.Runtime;
using BuildFarm.Worker.Sandbox;

namespace BuildFarm.Worker.Tests.Sandbox;

public sealed class RuntimeThreadsTests
{
    [Fact]
    public void Supported_Probed_BackgroundCollectionsOff()
    {
        // The GC's background thread is started lazily by whichever thread triggers a background collection; from a
        // build's private thread it would be started inside that build's mount namespace.
        Assert.True(StoreView.Supported);
        Assert.Equal(GCLatencyMode.Batch, GCSettings.LatencyMode);
    }

    [Fact]
    public void SharingNamespace_ThreadStartedFromAPrivateThread_NamedAndTheWayBackRefused()
    {
        // What the store view's private thread must never do, done on purpose: start a thread. That thread inherits
        // the private namespace and shares the file system context, so the kernel refuses the way back while it lives
        // (EINVAL), and the diagnostic names it.
        int refused = 0, refusedErrno = 0, back = -1;
        string? named = null;
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                using var home = MountCalls.Open("/proc/thread-self/ns/mnt");
                Assert.Equal(0, MountCalls.Unshare(MountCalls.CloneNewNs));
                using var release = new ManualResetEventSlim();
                using var started = new ManualResetEventSlim();
                var child = new Thread(() => { started.Set(); release.Wait(); }) { Name = "bf-inherits-ns", IsBackground = true };
                child.Start();
                started.Wait();
                named = RuntimeThreads.SharingNamespace();
                refused = MountCalls.Setns(home.DangerousGetHandle().ToInt32(), MountCalls.CloneNewNs);
                refusedErrno = MountCalls.Errno;
                release.Set();
                child.Join();
                // Join returns when the managed thread is done; the kernel lets go of the shared context when the
                // task itself has exited, a moment later.
                var deadline = Environment.TickCount64 + 10_000;
                while ((back = MountCalls.Setns(home.DangerousGetHandle().ToInt32(), MountCalls.CloneNewNs)) != 0 && Environment.TickCount64 < deadline)
                    Thread.Sleep(5);
            }
            catch (Exception e)
            {
                failure = e;
            }
        });
        thread.Start();
        thread.Join();

        Assert.Null(failure);
        Assert.Equal(-1, refused);
        Assert.Equal(22, refusedErrno);
        Assert.Contains("bf-inherits-ns", named);
        Assert.Equal(0, back);
    }

    [Fact]
    public void SharingNamespace_NoOtherThread_SaysSo()
    {
        string? named = null;
        var thread = new Thread(() =>
        {
            using var home = MountCalls.Open("/proc/thread-self/ns/mnt");
            if (MountCalls.Unshare(MountCalls.CloneNewNs) != 0)
                return;
            named = RuntimeThreads.SharingNamespace();
            if (MountCalls.Setns(home.DangerousGetHandle().ToInt32(), MountCalls.CloneNewNs) != 0)
                Environment.FailFast("test thread could not go back");
        });
        thread.Start();
        thread.Join();

        Assert.Equal("no other thread in its namespace", named);
    }
}
