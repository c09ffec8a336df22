using BuildFarm.Contracts.Builds;
using BuildFarm.Store.Archives;
using BuildFarm.Store.Derivations;
using BuildFarm.Store.Local;
using BuildFarm.Store.Paths;
using BuildFarm.Store.Quarantine;
using BuildFarm.Store.Signing;
using BuildFarm.Testing;

namespace BuildFarm.Dispatcher.Tests.Origin;

/// <summary>
/// What a worker returns for a build, made the way a worker makes it: each output written into a real worker store,
/// registered, signed with <paramref name="key"/> and exported in the signed form into the origin's quarantine. With a
/// trusted key and content of the test's choosing, this is exactly what a thief of that key can produce.
/// </summary>
internal sealed class WorkerReturns(LocalStore worker, SigningKey key, StoreLayout origin)
{
    /// <summary>Writes each output with its writer (given the physical path), signs them all and quarantines one archive.</summary>
    public async Task<BuildSucceeded> ReturnAsync(StorePath? deriver, params (string Name, StorePath Path, Func<string, Task> Write)[] outputs)
    {
        var built = new List<BuiltOutput>();
        foreach (var (name, path, write) in outputs)
        {
            using (await worker.LockPathAsync(path, CancellationToken.None))
            {
                await write(worker.PhysicalPath(path));
                await worker.RegisterOutputAsync(path, [], deriver, CancellationToken.None);
            }

            var info = await worker.GetPathInfoAsync(path, CancellationToken.None);
            await worker.AddSignaturesAsync(path, [key.Sign(info.Fingerprint)], CancellationToken.None);
            built.Add(new BuiltOutput(name, path.FullPath, info.NarHash.ToString(), info.NarSize, [], []));
        }

        var build = Guid.NewGuid();
        using var archive = new MemoryStream();
        await ArchiveWriter.ExportAsync(worker, [.. outputs.Select(o => o.Path)], archive, new ExportOptions(ArchiveFormat.BuildFarmSigned), CancellationToken.None);
        archive.Position = 0;
        await new OutputQuarantine(origin).ReceiveAsync(build, 1, archive, 1 << 20, CancellationToken.None);
        return new BuildSucceeded(build, 1, "w1", built, new PhaseTimings(TimeSpan.Zero, TimeSpan.Zero, TimeSpan.Zero), DateTimeOffset.UtcNow);
    }

    /// <summary>Returns output <c>out</c> of <paramref name="drv"/> written by <paramref name="write"/>.</summary>
    public Task<BuildSucceeded> ReturnAsync(CompiledDerivation drv, Func<string, Task> write) =>
        ReturnAsync(drv.DrvPath, ("out", drv.Derivation.Outputs["out"].Path!, write));

    /// <summary>A flat output: one regular file, executable when asked.</summary>
    public static Func<string, Task> File(string content, bool executable = false) => async physical =>
    {
        await System.IO.File.WriteAllTextAsync(physical, content);
        if (executable)
            System.IO.File.SetUnixFileMode(physical, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    };

    /// <summary>A recursive output: a file, an executable and a symlink in a directory.</summary>
    public static Func<string, Task> Tree(string content) => async physical =>
    {
        Directory.CreateDirectory(Path.Combine(physical, "bin"));
        await System.IO.File.WriteAllTextAsync(Path.Combine(physical, "data"), content);
        await System.IO.File.WriteAllTextAsync(Path.Combine(physical, "bin", "run"), "#!/bin/sh\n");
        System.IO.File.SetUnixFileMode(Path.Combine(physical, "bin", "run"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        System.IO.File.CreateSymbolicLink(Path.Combine(physical, "link"), "data");
    };

    /// <summary>
    /// What the real Nix says <paramref name="write"/>'s object hashes to (written at <paramref name="scratch"/>):
    /// <c>nix-hash</c>'s nix32 (the form of a <c>.drv</c>'s <c>outputHash</c>), or the SRI form Nix's messages print.
    /// </summary>
    public static async Task<string> NixHashAsync(Func<string, Task> write, string scratch, string algo, bool recursive, bool sri = false)
    {
        await write(scratch);
        return sri
            ? await NixOracle.RunTextAsync("nix", "--extra-experimental-features", "nix-command", "hash", recursive ? "path" : "file", "--type", algo, "--sri", scratch)
            : await NixOracle.RunTextAsync("nix-hash", [.. recursive ? Array.Empty<string>() : ["--flat"], "--base32", "--type", algo, scratch]);
    }
}
