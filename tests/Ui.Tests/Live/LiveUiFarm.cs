using BuildFarm.Integration.Tests.EndToEnd;

namespace BuildFarm.Ui.Tests.Live;

/// <summary>
/// The live UI tests' farm: an <see cref="EndToEndFarm"/> with a 30 s lease. These tests never kill a worker, so a
/// long lease costs nothing, while on a loaded CI machine (every test project at once on two cores) a worker whose
/// heartbeats stall for a few seconds keeps its build and stays online instead of being retried elsewhere.
/// </summary>
public sealed class LiveUiFarm : IAsyncLifetime, IDisposable
{
    public EndToEndFarm Farm { get; } = new(TimeSpan.FromSeconds(30));

    public Task InitializeAsync() => Farm.InitializeAsync();

    public Task DisposeAsync() => Farm.DisposeAsync();

    public void Dispose() => Farm.Dispose();
}
