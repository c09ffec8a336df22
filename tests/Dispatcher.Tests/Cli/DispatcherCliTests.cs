using BuildFarm.Dispatcher.Cli;

namespace BuildFarm.Dispatcher.Tests.Cli;

public sealed class DispatcherCliTests
{
    [Fact]
    public void Build_RootCommand_HasTheCommandGroups()
    {
        var root = DispatcherCli.Build();
        var names = root.Subcommands.Select(c => c.Name).ToArray();
        Assert.Contains("store", names);
        Assert.Contains("drv", names);
        Assert.Contains("keys", names);
    }

    [Fact]
    public void Parse_UnknownCommand_ReportsError()
    {
        var result = DispatcherCli.Build().Parse(["no-such-command"]);
        Assert.NotEmpty(result.Errors);
    }
}
