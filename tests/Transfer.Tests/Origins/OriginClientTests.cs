using System.Security.Cryptography;
using BuildFarm.Testing;
using BuildFarm.Transfer.Errors;
using BuildFarm.Transfer.Origins;
using BuildFarm.Transfer.Resilience;
using BuildFarm.Transfer.Tests.Support;
using Xunit.Abstractions;

namespace BuildFarm.Transfer.Tests.Origins;

/// <summary>The transport against a real OpenSSH sshd on loopback.</summary>
public sealed class OriginClientTests(SshdFixture sshd, ITestOutputHelper output) : IClassFixture<SshdFixture>
{
    private static readonly TransferResilienceOptions NoRetry = new() { MaxRetryAttempts = 0 };

    private SshdServer Server => sshd.Server;

    [Theory]
    [InlineData(OriginTransport.SshNet)]
    [InlineData(OriginTransport.OpenSsh)]
    public async Task StartAsync_PinnedKey_StreamsLargeFileIncrementally(OriginTransport transport)
    {
        const long size = 128L * 1024 * 1024;
        const long first = 8L * 1024 * 1024;
        var file = Path.Combine(Server.DataDirectory, $"large-{transport}.bin");
        await ProcessRunner.ShellAsync($"head -c {size} /dev/urandom > {file}").ContinueWith(t => t.Result.EnsureSuccess("make file"));
        var expected = await HashFileAsync(file);
        await using var origin = new OriginClient(ConnectionSettings.For(Server, transport), NoRetry);

        // The remote side sends the first 8 MiB, then waits for a line on stdin before the rest: those bytes can only
        // be read if the output streams while the command still runs (nothing waits for its end or its whole output).
        await using var process = await origin.StartAsync($"head -c {first} {file} && read line && tail -c +{first + 1} {file}", CancellationToken.None);
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[64 * 1024];
        long total = 0;
        using (var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1)))
        {
            while (total < first)
            {
                var n = await process.Stdout.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, first - total)), timeout.Token);
                Assert.True(n > 0, $"the output ended after {total} bytes, before the command was let go on");
                sha.AppendData(buffer, 0, n);
                total += n;
            }
        }

        await using (var stdin = process.OpenStdin())
            await stdin.WriteAsync("go\n"u8.ToArray());
        int read;
        while ((read = await process.Stdout.ReadAsync(buffer)) > 0)
        {
            sha.AppendData(buffer, 0, read);
            total += read;
        }

        var exit = await process.WaitForExitAsync(CancellationToken.None);
        // SSH.NET opens the channel window as data arrives, not as it is read, so how much sits unread depends on how
        // fast this reader runs against the network under the run's load: reported, not asserted.
        output.WriteLine($"streamed {total} bytes; peak unread backlog {process.PeakBufferedBytes} bytes");
        Assert.Equal(0, exit.ExitCode);
        Assert.Equal(size, total);
        Assert.Equal(expected, Convert.ToHexString(sha.GetHashAndReset()));
        File.Delete(file);
    }

    [Theory]
    [InlineData(OriginTransport.SshNet)]
    [InlineData(OriginTransport.OpenSsh)]
    public async Task StartAsync_WrongPinnedKey_RefusesNamingBothFingerprints(OriginTransport transport)
    {
        var bogus = ConnectionSettings.BogusFingerprint();
        var acceptedBefore = Server.AcceptedConnections;
        await using var origin = new OriginClient(ConnectionSettings.For(Server, bogus, transport));

        var refused = await Assert.ThrowsAsync<HostKeyMismatchException>(() => origin.RunAsync("echo should-not-run", CancellationToken.None));

        Assert.Equal(Server.HostKeyFingerprint, refused.PresentedFingerprint);
        Assert.Contains(bogus, refused.Message, StringComparison.Ordinal);
        Assert.Contains(Server.HostKeyFingerprint, refused.Message, StringComparison.Ordinal);
        Assert.Equal(0, origin.Pool.OpenConnections);
        Assert.Equal(0, origin.Resilience.Retries);
        Assert.Equal(acceptedBefore, Server.AcceptedConnections);
    }

    [Theory]
    [InlineData(OriginTransport.SshNet)]
    [InlineData(OriginTransport.OpenSsh)]
    public async Task StartAsync_ConcurrentCommands_ShareOneConnection(OriginTransport transport)
    {
        const int concurrent = 6;
        await using var origin = new OriginClient(ConnectionSettings.For(Server, transport) with { ChannelsPerConnection = 8 }, NoRetry);
        var acceptedBefore = Server.AcceptedConnections;

        // All commands are running at once: each waits for a line on stdin before printing.
        var processes = await Task.WhenAll(Enumerable.Range(0, concurrent)
            .Select(i => origin.StartAsync($"read line && head -c 1048576 /dev/zero && echo {i}", CancellationToken.None)));
        Assert.Equal(concurrent, origin.Pool.ActiveChannels);
        var reads = processes.Select(async (p, i) =>
        {
            await using (var stdin = p.OpenStdin())
                await stdin.WriteAsync("go\n"u8.ToArray());
            var bytes = new MemoryStream();
            await p.Stdout.CopyToAsync(bytes);
            Assert.Equal(0, (await p.WaitForExitAsync(CancellationToken.None)).ExitCode);
            return bytes.Length;
        });
        var lengths = await Task.WhenAll(reads);

        Assert.All(lengths, l => Assert.InRange(l, 1048576 + 2, 1048576 + 3));
        Assert.All(processes, p => Assert.Equal(processes[0].ConnectionId, p.ConnectionId));
        Assert.Equal(1, origin.Pool.ConnectionsOpened);
        Assert.Equal(acceptedBefore + 1, Server.AcceptedConnections);
        foreach (var p in processes)
            await p.DisposeAsync();
        Assert.Equal(0, origin.Pool.ActiveChannels);
        Assert.Equal("again\n", await origin.RunAsync("echo again", CancellationToken.None));
        Assert.Equal(1, origin.Pool.ConnectionsOpened);
    }

    [Theory]
    [InlineData(OriginTransport.SshNet)]
    [InlineData(OriginTransport.OpenSsh)]
    public async Task RunAsync_ShortCommandsOneAfterAnother_ReuseOneConnection(OriginTransport transport)
    {
        // A hook build runs several short commands: each is a new channel (OpenSSH: a session on the master), never a
        // new login. The time per command is printed for bench/pull's README, not asserted.
        const int commands = 20;
        await using var origin = new OriginClient(ConnectionSettings.For(Server, transport), NoRetry);
        Assert.Equal("0\n", await origin.RunAsync("echo 0", CancellationToken.None));
        var acceptedBefore = Server.AcceptedConnections;
        var cpu = CpuTicks();
        var clock = System.Diagnostics.Stopwatch.StartNew();

        for (var i = 1; i <= commands; i++)
            Assert.Equal($"{i}\n", await origin.RunAsync($"echo {i}", CancellationToken.None));

        output.WriteLine($"{transport}: {clock.Elapsed.TotalMilliseconds / commands:0.0} ms and {(CpuTicks() - cpu) * 10.0 / commands:0.0} ms CPU (this process and its reaped ssh) per command");
        Assert.Equal(1, origin.Pool.ConnectionsOpened);
        Assert.Equal(acceptedBefore, Server.AcceptedConnections);
    }

    [Theory]
    [InlineData(OriginTransport.SshNet)]
    [InlineData(OriginTransport.OpenSsh)]
    public async Task UploadAsync_FileThroughStdin_RemoteCopyHasSameHash(OriginTransport transport)
    {
        using var local = new TempDirectory();
        var source = local.Combine("upload.bin");
        await File.WriteAllBytesAsync(source, RandomNumberGenerator.GetBytes(16 * 1024 * 1024));
        var remote = Path.Combine(Server.DataDirectory, $"uploaded-{transport}.bin");
        await using var origin = new OriginClient(ConnectionSettings.For(Server, transport), NoRetry);

        var stdout = await origin.UploadAsync(
            $"cat > {remote} && sha256sum {remote}",
            async (stdin, ct) =>
            {
                await using var file = File.OpenRead(source);
                await file.CopyToAsync(stdin, ct);
            },
            CancellationToken.None);

        Assert.StartsWith((await HashFileAsync(source)).ToLowerInvariant(), stdout, StringComparison.Ordinal);
        Assert.Equal(await HashFileAsync(source), await HashFileAsync(remote));
    }

    [Theory]
    [InlineData(OriginTransport.SshNet)]
    [InlineData(OriginTransport.OpenSsh)]
    public async Task UploadAsync_EmptyInput_RemoteSeesEndOfFile(OriginTransport transport)
    {
        await using var origin = new OriginClient(ConnectionSettings.For(Server, transport), NoRetry);

        var stdout = await origin.UploadAsync("wc -c", (_, _) => Task.CompletedTask, CancellationToken.None);

        Assert.Equal("0", stdout.Trim());
    }

    [Theory]
    [InlineData(OriginTransport.SshNet)]
    [InlineData(OriginTransport.OpenSsh)]
    public async Task DownloadAsync_CommandFails_ThrowsWithExitCodeAndStderrWithoutRetry(OriginTransport transport)
    {
        await using var origin = new OriginClient(ConnectionSettings.For(Server, transport));

        var failed = await Assert.ThrowsAsync<RemoteCommandFailedException>(
            () => origin.RunAsync("echo 'no such path' >&2; exit 3", CancellationToken.None));

        Assert.Equal(3, failed.Exit.ExitCode);
        Assert.Contains("exited 3: no such path", failed.Message, StringComparison.Ordinal);
        Assert.Equal(0, origin.Resilience.Retries);
    }

    [Theory]
    [InlineData(OriginTransport.SshNet)]
    [InlineData(OriginTransport.OpenSsh)]
    public async Task DownloadAsync_ReaderFailsOnOutputOfFailedCommand_ReportsExitAndStderr(OriginTransport transport)
    {
        await using var origin = new OriginClient(ConnectionSettings.For(Server, transport), NoRetry);

        var failed = await Assert.ThrowsAsync<RemoteCommandFailedException>(() => origin.DownloadAsync<int>(
            "echo 'buildfarm: command not found' >&2; exit 127",
            async (stdout, ct) =>
            {
                var first = new byte[8];
                var n = await stdout.ReadAsync(first, ct);
                throw new InvalidDataException($"archive is truncated after {n} bytes");
            },
            CancellationToken.None));

        Assert.Equal(127, failed.Exit.ExitCode);
        Assert.Contains("command not found", failed.Message, StringComparison.Ordinal);
        Assert.IsType<InvalidDataException>(failed.InnerException);
    }

    [Theory]
    [InlineData(OriginTransport.SshNet)]
    [InlineData(OriginTransport.OpenSsh)]
    public async Task DownloadAsync_ReaderFailsOnOutputOfSucceededCommand_KeepsReaderError(OriginTransport transport)
    {
        await using var origin = new OriginClient(ConnectionSettings.For(Server, transport), NoRetry);

        await Assert.ThrowsAsync<InvalidDataException>(() => origin.DownloadAsync<int>(
            "echo not-an-archive",
            (_, _) => throw new InvalidDataException("not an archive"),
            CancellationToken.None));
    }

    [Theory]
    [InlineData(OriginTransport.SshNet)]
    [InlineData(OriginTransport.OpenSsh)]
    public async Task StartAsync_CancelledWhileStreaming_ThrowsCancelledAndConnectionStaysUsable(OriginTransport transport)
    {
        await using var origin = new OriginClient(ConnectionSettings.For(Server, transport), NoRetry);
        using var cts = new CancellationTokenSource();
        await using var process = await origin.StartAsync("cat /dev/zero", cts.Token);
        var buffer = new byte[65536];
        long read = 0;

        var cancelled = await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            while (true)
            {
                var n = await process.Stdout.ReadAsync(buffer, CancellationToken.None);
                Assert.NotEqual(0, n);
                read += n;
                if (read > 4 * 1024 * 1024)
                    await cts.CancelAsync();
            }
        });

        Assert.NotNull(cancelled);
        await process.DisposeAsync();
        Assert.Equal("still here\n", await origin.RunAsync("echo still here", CancellationToken.None));
        Assert.Equal(1, origin.Pool.ConnectionsOpened);
    }

    [Theory]
    [InlineData(TransferCompression.RemoteGzip, OriginTransport.SshNet)]
    [InlineData(TransferCompression.SshZlib, OriginTransport.SshNet)]
    [InlineData(TransferCompression.RemoteGzip, OriginTransport.OpenSsh)]
    [InlineData(TransferCompression.SshZlib, OriginTransport.OpenSsh)]
    public async Task DownloadAsync_Compressed_DeliversSameBytes(TransferCompression compression, OriginTransport transport)
    {
        var file = Path.Combine(Server.DataDirectory, $"text-{compression}-{transport}.txt");
        await File.WriteAllLinesAsync(file, Enumerable.Range(0, 200_000).Select(i => $"line {i} of a compressible file"));
        await using var origin = new OriginClient(ConnectionSettings.For(Server, transport) with { Compression = compression }, NoRetry);

        var hash = await origin.DownloadAsync(
            $"cat {file}",
            async (stdout, ct) => Convert.ToHexString(await SHA256.HashDataAsync(stdout, ct)),
            CancellationToken.None);

        Assert.Equal(await HashFileAsync(file), hash);
        var failed = await Assert.ThrowsAsync<RemoteCommandFailedException>(
            () => origin.RunAsync("echo partial; exit 5", CancellationToken.None));
        Assert.Equal(5, failed.Exit.ExitCode);
    }

    /// <summary>utime + stime + cutime + cstime of this process in clock ticks (/proc/self/stat; 100 per second).</summary>
    private static long CpuTicks()
    {
        var stat = File.ReadAllText("/proc/self/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return long.Parse(fields[11]) + long.Parse(fields[12]) + long.Parse(fields[13]) + long.Parse(fields[14]);
    }

    private static async Task<string> HashFileAsync(string path)
    {
        await using var stream = File.OpenRead(path);
        return Convert.ToHexString(await SHA256.HashDataAsync(stream));
    }
}
