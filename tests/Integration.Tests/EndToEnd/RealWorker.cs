using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using BuildFarm.Messaging.Broker;
using BuildFarm.Store.Signing;
using BuildFarm.Testing;

namespace BuildFarm.Integration.Tests.EndToEnd;

/// <summary>
/// The published <c>artifacts/bin/buildfarm-worker</c> (<c>./farm build</c>) as a child process with a JSON config
/// like an operator writes: its own store under a private root (logical <c>/nix/store</c>), sandboxed builders (never a silent fallback: a worker that cannot sandbox starts paused).
/// </summary>
internal sealed class RealWorker : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private RealWorker(string name, TempDirectory dir, Process process)
    {
        Name = name;
        Dir = dir;
        _process = process;
    }

    public string Name { get; }

    public TempDirectory Dir { get; }

    /// <summary>Physical directory of the worker's <c>/nix/store</c>.</summary>
    public string PhysicalStoreDir => Dir.Combine("root", "nix", "store");

    public string Output
    {
        get
        {
            lock (_output)
                return _output.ToString();
        }
    }

    public bool HasExited => _process.HasExited;

    /// <param name="name">The worker's name.</param>
    /// <param name="system">Its one system.</param>
    /// <param name="amqpUri">The broker.</param>
    /// <param name="dispatcherKey">The dispatcher key it trusts.</param>
    /// <param name="workerKey">Its signing key (events and outputs), which the dispatcher must trust.</param>
    /// <param name="slots">Its job slots.</param>
    /// <param name="bwrap">When set, <c>Sandbox:Bwrap</c> (a missing file makes the sandbox probe fail).</param>
    /// <param name="allowUnsandboxed">Its <c>AllowUnsandboxed</c>.</param>
    /// <param name="maxRequestAge">Its <c>Freshness:MaxRequestAge</c> (default one day).</param>
    /// <param name="contractVersions">Its <c>ContractVersions</c> (default: every version this release speaks): an older or newer worker, simulated.</param>
    public static RealWorker Start(string name, string system, string amqpUri, VerifyingKey dispatcherKey, SigningKey workerKey, int slots = 1, string? bwrap = null,
        bool allowUnsandboxed = false, TimeSpan? maxRequestAge = null, int[]? contractVersions = null) =>
        Start(name, system, new BrokerOptions { Uri = amqpUri }, dispatcherKey, workerKey, slots, bwrap, allowUnsandboxed, maxRequestAge, contractVersions);

    /// <summary>As above, with the worker's whole <c>Broker</c> section (its own user's password file, a CA file).</summary>
    public static RealWorker Start(string name, string system, BrokerOptions broker, VerifyingKey dispatcherKey, SigningKey workerKey, int slots = 1, string? bwrap = null,
        bool allowUnsandboxed = false, TimeSpan? maxRequestAge = null, int[]? contractVersions = null)
    {
        if (!File.Exists(RepoPaths.BuildfarmWorker))
            throw new InvalidOperationException($"{RepoPaths.BuildfarmWorker} does not exist: run ./farm build first");
        var dir = new TempDirectory("e2e-" + name);
        SecretKeyFiles.Write(dir.Combine("worker.sec"), workerKey.ToString());
        File.WriteAllText(dir.Combine("dispatchers.pub"), dispatcherKey + "\n");
        Directory.CreateDirectory(dir.Combine("root"));
        var config = new
        {
            Name = name,
            Systems = new[] { system },
            Slots = slots,
            SpeedFactor = 1,
            Store = new { StoreDir = "/nix/store", Root = dir.Combine("root") },
            Keys = new { SigningKeyFile = dir.Combine("worker.sec"), TrustedDispatcherKeysFile = dir.Combine("dispatchers.pub") },
            Broker = new { broker.Uri, broker.PasswordFile, broker.CaCertificateFile },
            HeartbeatInterval = "00:00:01",
            BuildDir = dir.Combine("builds"),
            AllowUnsandboxed = allowUnsandboxed,
            ContractVersions = contractVersions ?? [],
            Freshness = new { MaxRequestAge = (maxRequestAge ?? TimeSpan.FromDays(1)).ToString("c", CultureInfo.InvariantCulture) },
            Sandbox = bwrap is null
                ? (object)new { ExtraPaths = BuilderScratch.ExtraPaths }
                : new { ExtraPaths = BuilderScratch.ExtraPaths, Bwrap = bwrap },
        };
        File.WriteAllText(dir.Combine("worker.json"), JsonSerializer.Serialize(config));
        var psi = new ProcessStartInfo(RepoPaths.BuildfarmWorker) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("run");
        psi.ArgumentList.Add("--config");
        psi.ArgumentList.Add(dir.Combine("worker.json"));
        var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start buildfarm-worker");
        var worker = new RealWorker(name, dir, process);
        process.OutputDataReceived += (_, e) => worker.Append(e.Data);
        process.ErrorDataReceived += (_, e) => worker.Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return worker;
    }

    /// <summary><c>kill -9</c> of the agent alone, like a machine dying: its builder (own session) is not told.</summary>
    public void KillMinus9() => _process.Kill(entireProcessTree: false);

    public Task SignalAsync(string signal) =>
        ProcessRunner.RunAsync("/bin/kill", ["-" + signal, _process.Id.ToString(CultureInfo.InvariantCulture)]);

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"worker {Name} did not exit within {timeout}; output:\n{Output}");
        }

        _process.WaitForExit();
        return _process.ExitCode;
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
                _process.Kill(entireProcessTree: true);
            _process.WaitForExit(TimeSpan.FromSeconds(10));
        }
        catch (InvalidOperationException)
        {
        }

        _process.Dispose();
        Dir.Dispose();
    }

    private void Append(string? line)
    {
        if (line is null)
            return;
        lock (_output)
            _output.AppendLine(line);
    }
}
