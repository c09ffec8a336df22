using System.Diagnostics;
using BuildFarm.Testing;

namespace BuildFarm.Cli.Tests.Store;

/// <summary>
/// The real <c>buildfarm store import</c> process whose stdin goes silent halfway through a file (the pipe stays
/// open, as a hung sender's would): it gives up after <c>--stall-timeout</c> with one line, and its temporary entry is
/// gone when it exits, not at the next store open.
/// </summary>
public sealed class StoreImportStallTests : IDisposable
{
    private readonly TempDirectory _temp = new("cli-stall");

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task Import_StdinStallsMidFile_GivesUpAfterTheStallTimeoutAndLeavesNoTemporaryEntry()
    {
        var big = _temp.Combine("big.bin");
        await File.WriteAllBytesAsync(big, new byte[1 << 20]);
        var from = _temp.Combine("from");
        var path = (await RunAsync(null, "--root", from, "store", "add", big)).EnsureSuccess("store add").Stdout.Trim();
        var archive = (await RunAsync(null, "--root", from, "store", "export", path)).EnsureSuccess("store export").StdoutBytes;
        var to = _temp.Combine("to");
        var storeDir = to + "/nix/store";

        using var process = Process.Start(new ProcessStartInfo(RepoPaths.Buildfarm, ["--store-dir", "/nix/store", "--root", to, "store", "import", "--no-check-sigs", "--stall-timeout", "2"])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        var stderr = process.StandardError.ReadToEndAsync();
        await process.StandardInput.BaseStream.WriteAsync(archive.AsMemory(0, archive.Length / 2));
        await process.StandardInput.BaseStream.FlushAsync();
        var clock = Stopwatch.StartNew();
        var entered = false;
        while (!process.HasExited && clock.Elapsed < TimeSpan.FromSeconds(30) && !entered)
        {
            entered = Directory.Exists(storeDir) && Directory.EnumerateFileSystemEntries(storeDir).Any(e => Path.GetFileName(e).StartsWith(".tmp-", StringComparison.Ordinal));
            await Task.Delay(20);
        }

        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));

        Assert.True(entered, "the import never wrote its temporary entry: the stall was not mid-file");
        Assert.Equal(1, process.ExitCode);
        Assert.Matches(@"^buildfarm store import: the stream stalled: no byte arrived for 2 s after \d+ bytes\n$", await stderr);
        Assert.Empty(Directory.EnumerateFileSystemEntries(storeDir));
        Assert.Equal(1, (await RunAsync(null, "--root", to, "store", "info", path)).ExitCode);
    }

    private static async Task<ProcessResult> RunAsync(byte[]? stdin, params string[] args) =>
        await ProcessRunner.RunAsync(RepoPaths.Buildfarm, ["--store-dir", "/nix/store", .. args], stdin: stdin, timeout: TimeSpan.FromMinutes(2));
}
