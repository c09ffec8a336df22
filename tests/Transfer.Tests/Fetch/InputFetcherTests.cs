using System.Text;
using BuildFarm.Testing;
using BuildFarm.Transfer.Fetch;
using BuildFarm.Transfer.Origins;
using BuildFarm.Transfer.Resilience;
using BuildFarm.Transfer.Tests.Support;

namespace BuildFarm.Transfer.Tests.Fetch;

public sealed class InputFetcherTests
{
    [Fact]
    public async Task FetchAsync_TenBuildsWantSamePath_OneBatchFetch()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var calls = 0;
        using var fetcher = new InputFetcher(async (paths, ct) =>
        {
            Interlocked.Increment(ref calls);
            await release.Task.WaitAsync(ct);
            return paths;
        });

        var builds = Enumerable.Range(0, 10)
            .Select(_ => fetcher.FetchAsync(["/nix/store/aaaa-glibc"], CancellationToken.None))
            .ToList();
        release.SetResult();
        await Task.WhenAll(builds);

        Assert.Equal(1, calls);
        Assert.Equal(1, fetcher.BatchesFetched);
    }

    [Fact]
    public async Task FetchAsync_OriginLacksAPath_NamesIt()
    {
        using var fetcher = new InputFetcher((paths, _) => Task.FromResult<IReadOnlyList<string>>([paths[0]]));

        var missing = await Assert.ThrowsAsync<MissingInputException>(
            () => fetcher.FetchAsync(["/nix/store/aaaa-a", "/nix/store/bbbb-b"], CancellationToken.None));

        Assert.Equal(["/nix/store/bbbb-b"], missing.Paths);
    }

    [Fact]
    public async Task ForOrigin_RealSshd_RunsOneExportForTheBatchAndStreamsIntoTheSink()
    {
        using var server = await SshdServer.StartAsync();
        // Stands in for `buildfarm` on the origin: logs its arguments, and "exports" by printing each path.
        var fake = Path.Combine(server.DataDirectory, "fake-buildfarm");
        var calls = Path.Combine(server.DataDirectory, "calls.log");
        await File.WriteAllTextAsync(fake, $"""
            #!/bin/sh
            echo "$*" >> {calls}
            if [ "$1 $2 $3 $4 $5" != "--store-dir /nix/store store export --signed" ]; then echo "unexpected arguments: $*" >&2; exit 64; fi
            shift 5
            for p in "$@"; do echo "$p"; done
            """);
        File.SetUnixFileMode(fake, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var settings = ConnectionSettings.For(server) with { RemoteCommand = fake + " --store-dir /nix/store" };
        await using var origin = new OriginClient(settings, new TransferResilienceOptions { MaxRetryAttempts = 0 });
        var sink = new LineSink();
        using var fetcher = InputFetcher.ForOrigin(origin, sink);

        await Task.WhenAll(
            fetcher.FetchAsync(["/nix/store/aaaa-a", "/nix/store/bbbb-b"], CancellationToken.None),
            fetcher.FetchAsync(["/nix/store/aaaa-a", "/nix/store/bbbb-b"], CancellationToken.None));

        Assert.Equal(["/nix/store/aaaa-a", "/nix/store/bbbb-b"], sink.Imported);
        Assert.Equal(
            ["--store-dir /nix/store store export --signed /nix/store/aaaa-a /nix/store/bbbb-b"],
            await File.ReadAllLinesAsync(calls));
    }

    private sealed class LineSink : IArchiveSink
    {
        public List<string> Imported { get; } = [];

        public async Task<IReadOnlyList<string>> ImportAsync(Stream archive, CancellationToken cancellationToken)
        {
            using var reader = new StreamReader(archive, Encoding.UTF8, leaveOpen: true);
            var paths = new List<string>();
            while (await reader.ReadLineAsync(cancellationToken) is { } line)
                paths.Add(line);
            lock (Imported)
                Imported.AddRange(paths);
            return paths;
        }
    }
}
