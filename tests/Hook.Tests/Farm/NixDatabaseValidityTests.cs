using BuildFarm.Hook.Farm;
using BuildFarm.Testing;

namespace BuildFarm.Hook.Tests.Farm;

/// <summary>The hook's validity check read from the machine's real Nix database, Nix's own nix-store as the authority.</summary>
public sealed class NixDatabaseValidityTests
{
    private const string Database = "/nix/var/nix/db/db.sqlite";

    [Fact]
    public async Task InvalidAsync_ValidAndInvalidPaths_ValidOnesAnsweredFromTheDatabaseOnlyTheRestAskedOfNix()
    {
        using var dir = new TempDirectory("hook-validity");
        var file = dir.Combine("valid-" + Guid.NewGuid().ToString("N"));
        await File.WriteAllTextAsync(file, "valid\n");
        var valid = (await ProcessRunner.RunAsync("nix-store", ["--add", file])).EnsureSuccess("nix-store --add").Stdout.Trim();
        var invalid = "/nix/store/" + new string('0', 32) + "-never-built";
        var authority = new RecordingValidity(new NixStoreValidity());

        try
        {
            var answer = await new NixDatabaseValidity(Database, authority).InvalidAsync([valid, invalid], CancellationToken.None);

            Assert.Equal([invalid], answer);
            Assert.Equal([[invalid]], authority.Asked);
            Assert.Empty(await new NixDatabaseValidity(Database, authority).InvalidAsync([valid], CancellationToken.None));
            Assert.Single(authority.Asked);
        }
        finally
        {
            await ProcessRunner.RunAsync("nix-store", ["--delete", valid]);
        }
    }

    [Fact]
    public async Task InvalidAsync_NoDatabase_EverythingAskedOfTheAuthority()
    {
        var authority = new RecordingValidity(new ScriptedValidity(["/nix/store/x"]));

        var answer = await new NixDatabaseValidity("/nonexistent/db.sqlite", authority).InvalidAsync(["/nix/store/x", "/nix/store/y"], CancellationToken.None);

        Assert.Equal(["/nix/store/x"], answer);
        Assert.Equal([["/nix/store/x", "/nix/store/y"]], authority.Asked);
    }

    [Theory]
    [InlineData(null, null, "/nix/var/nix/db/db.sqlite")]
    [InlineData(null, "/srv/nix-state", "/srv/nix-state/db/db.sqlite")]
    [InlineData("/nix/store/", null, "/nix/var/nix/db/db.sqlite")]
    [InlineData("/other/store", null, null)]
    public void DefaultDatabase_StoreAndStateDirectories_TheDatabaseOfTheDefaultStoreOnly(string? storeDir, string? stateDir, string? expected)
    {
        var env = new Dictionary<string, string?> { ["NIX_STORE_DIR"] = storeDir, ["NIX_STATE_DIR"] = stateDir };

        Assert.Equal(expected, NixDatabaseValidity.DefaultDatabase(n => env.GetValueOrDefault(n)));
    }

    private sealed class RecordingValidity(IStoreValidity inner) : IStoreValidity
    {
        public List<string[]> Asked { get; } = [];

        public Task<IReadOnlyList<string>> InvalidAsync(IReadOnlyList<string> paths, CancellationToken cancellationToken)
        {
            Asked.Add([.. paths]);
            return inner.InvalidAsync(paths, cancellationToken);
        }
    }

    private sealed class ScriptedValidity(string[] invalid) : IStoreValidity
    {
        public Task<IReadOnlyList<string>> InvalidAsync(IReadOnlyList<string> paths, CancellationToken cancellationToken) =>
            Task.FromResult<IReadOnlyList<string>>([.. paths.Where(invalid.Contains)]);
    }
}
