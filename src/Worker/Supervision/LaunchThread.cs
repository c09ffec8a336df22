using System.Collections.Concurrent;
using System.Diagnostics;

namespace BuildFarm.Worker.Supervision;

/// <summary>
/// Starts every builder from one thread that lives as long as the worker. Bubblewrap's --die-with-parent is
/// PR_SET_PDEATHSIG, which fires when the parent THREAD exits, not the process: started from a thread-pool thread,
/// a build was SIGKILLed (exit 137, read as the builder's own exit) whenever the pool retired that thread, e.g. after
/// 20 s idle. From this thread the signal fires only when the worker process itself dies, as intended.
/// </summary>
internal static class LaunchThread
{
    private static readonly BlockingCollection<(ProcessStartInfo Psi, TaskCompletionSource<Process> Started)> Requests = [];

    static LaunchThread()
    {
        new Thread(Serve) { IsBackground = true, Name = "builder-launch" }.Start();
    }

    /// <summary>Process.Start on the launch thread; its exceptions (e.g. Win32Exception) are rethrown here.</summary>
    public static Task<Process> StartAsync(ProcessStartInfo psi)
    {
        var started = new TaskCompletionSource<Process>(TaskCreationOptions.RunContinuationsAsynchronously);
        Requests.Add((psi, started));
        return started.Task;
    }

    private static void Serve()
    {
        foreach (var (psi, started) in Requests.GetConsumingEnumerable())
        {
            try
            {
                if (Process.Start(psi) is { } process)
                    started.SetResult(process);
                else
                    started.SetException(new System.ComponentModel.Win32Exception("no process was started"));
            }
#pragma warning disable CA1031 // Every failure belongs to the caller, not to this thread (which must live on).
            catch (Exception e)
#pragma warning restore CA1031
            {
                started.SetException(e);
            }
        }
    }
}
