using BuildFarm.Contracts.Workers;
using BuildFarm.Dispatcher.Lifecycle;
using BuildFarm.Dispatcher.Registry;
using BuildFarm.Messaging.Routing;

namespace BuildFarm.Dispatcher.Tests.Registry;

public sealed class ContractVersionChoiceTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 5, 8, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Window = TimeSpan.FromSeconds(30);
    private static readonly BuildClass Plain = new("x86_64-linux", []);

    private static WorkerRecord Worker(string name, int[] versions, bool online = true, string system = "x86_64-linux") =>
        new(name, ContractRouting.Declared(new WorkerCapabilities([system], [], [], 1, 1.0), versions), Now.AddHours(-1),
            online ? Now.AddSeconds(-1) : Now.AddMinutes(-10), WorkerTable.Online, "1.0", 0, 1L << 40, false, false, null, 0, 0);

    [Fact]
    public void Choose_RollingUpgrade_NewestVersionEveryOnlineWorkerSpeaks()
    {
        var route = ContractVersionChoice.Choose([Worker("old", [2]), Worker("new", [2, 3])], Plain, [2, 3], Now, Window);

        Assert.Equal(new ContractVersionRoute(2, null), route);
    }

    [Fact]
    public void Choose_EveryWorkerUpgraded_NewestVersion()
    {
        var route = ContractVersionChoice.Choose([Worker("a", [2, 3]), Worker("b", [2, 3]), Worker("gone", [2], online: false)], Plain, [2, 3], Now, Window);

        Assert.Equal(3, route.Version);
    }

    [Fact]
    public void Choose_DispatcherWritesOnlyTheNewer_RoutesAroundTheOldWorker()
    {
        var route = ContractVersionChoice.Choose([Worker("old", [2]), Worker("new", [2, 3])], Plain, [3], Now, Window);

        Assert.Equal(new ContractVersionRoute(3, null), route);
    }

    [Fact]
    public void Choose_NoCapableWorkerOnline_UsesTheVersionsOfThoseSeenBefore()
    {
        var route = ContractVersionChoice.Choose([Worker("old", [2], online: false), Worker("other", [3], system: "aarch64-linux")], Plain, [2, 3], Now, Window);

        Assert.Equal(2, route.Version);
    }

    [Fact]
    public void Choose_NoWorkerSpeaksAWritableVersion_OldestWithAProblemNamingThem()
    {
        var route = ContractVersionChoice.Choose([Worker("old", [2])], Plain, [3], Now, Window);

        Assert.Equal(3, route.Version);
        Assert.Contains("old speaks 2", route.Problem, StringComparison.Ordinal);
        Assert.Contains("upgrade the older side", route.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Choose_NoWorkerKnown_OldestWritableVersion()
    {
        Assert.Equal(new ContractVersionRoute(2, null), ContractVersionChoice.Choose([], Plain, [2, 3], Now, Window));
    }

    [Theory]
    [InlineData(new[] { 2 }, new[] { 2 }, 2)]
    [InlineData(new[] { 2 }, new[] { 2, 3 }, 2)]
    [InlineData(new[] { 2 }, new[] { 3 }, null)]
    [InlineData(new[] { 2, 3 }, new[] { 2, 3 }, null)]
    public void WhenEverySetSpeaks_OneWritableVersion_AnswersWithoutTheWorkersOnlyWhenChooseCouldNotDiffer(int[] writable, int[] spoken, int? expected)
    {
        var workers = new[] { Worker("a", [2]), Worker("b", spoken), Worker("elsewhere", [9], system: "aarch64-linux") };

        var cheap = ContractVersionChoice.WhenEverySetSpeaks(workers.Select(w => w.Capabilities), Plain, writable);

        Assert.Equal(expected, cheap?.Version);
        if (cheap is not null)
            Assert.Equal(ContractVersionChoice.Choose(workers, Plain, writable, Now, Window), cheap);
    }
}
