using BuildFarm.Dispatcher.Lifecycle;
using BuildFarm.Dispatcher.Registry;
using BuildFarm.Dispatcher.Ui;
using BuildFarm.Messaging.Routing;

namespace BuildFarm.Dispatcher.Api;

/// <summary>Read side of workers: the registry's rows as views, minus the long-dead.</summary>
internal sealed class WorkerViews(BuildLifecycle lifecycle, TimeProvider time, UiOptions ui)
{
    public Task<List<WorkerView>> ListAsync(CancellationToken cancellationToken) => lifecycle.Database.ReadAsync(async s =>
    {
        var now = time.GetUtcNow();
        var clocks = await WorkerClockTable.ByWorkerAsync(s);
        return (await RememberedAsync(s, now)).Select(w => new WorkerView(
            w.Name, w.Capabilities.Systems, w.Capabilities.SupportedFeatures, w.Capabilities.MandatoryFeatures, w.Capabilities.Slots,
            w.Capabilities.SpeedFactor, w.State, IsOnline(w, now), w.FirstSeen, w.LastSeen,
            w.Version, w.Load, w.FreeDiskBytes, w.Draining, w.Paused, w.Note, w.BuildsDone, w.BuildsFailed,
            BuildViews.IsolationName(w.Isolation?.Isolation) ?? "unknown", w.Isolation?.Reason, ContractRouting.VersionsOf(w.Capabilities),
            clocks.TryGetValue(w.Name, out var clock) ? Math.Round(clock.Skew.TotalSeconds, 1) : null)).ToList();
    }, cancellationToken);

    /// <summary>
    /// Workers silent for longer than Ui:ForgetDeadWorkersAfter are aged out of every view (workers, classes and the
    /// alerts built on them, metrics, probe); their row stays.
    /// </summary>
    public async Task<List<WorkerRecord>> RememberedAsync(DbSession s, DateTimeOffset now) =>
        (await WorkerTable.ListAsync(s)).Where(w => now - w.LastSeen <= ui.ForgetDeadWorkersAfter).ToList();

    public bool IsOnline(WorkerRecord w, DateTimeOffset now) => CapacityCheck.IsOnline(w, now, lifecycle.Settings.OnlineWindow);
}
