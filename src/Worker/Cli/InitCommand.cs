using System.CommandLine;

namespace BuildFarm.Worker.Cli;

/// <summary>
/// <c>buildfarm-worker init --config FILE --name NAME ...</c>: writes a worker.json from flags through
/// <see cref="Configuration.WorkerOptions"/> and its validator, with the origins' host-key pins computed and the
/// signing key made when missing; the installer (packaging/install-worker.sh) and <c>./farm up</c> call it instead of
/// writing JSON themselves. Exit 2 with one line per problem, naming the flag; nothing is written then.
/// </summary>
internal static class InitCommand
{
    public const int UsageError = 2;

    public static Command Create()
    {
        var config = new Option<string>("--config") { Description = "The worker.json to write (replaced atomically)", Required = true };
        var o = new Dictionary<string, Option<string?>>();
        Option<string?> Text(string name, string description) => o[name] = new Option<string?>(name) { Description = description };
        var lists = new Dictionary<string, Option<string[]>>();
        Option<string[]> List(string name, string description) => lists[name] = new Option<string[]>(name)
        {
            Description = description + " (repeatable, or comma separated)",
            AllowMultipleArgumentsPerToken = false,
        };

        var command = new Command("init", "Write and validate a worker configuration from flags (makes the signing key when missing)")
        {
            config,
            Text("--name", "Worker name, also the name of a new signing key"),
            List("--systems", "Systems it builds for (default: this machine's, e.g. x86_64-linux)"),
            List("--features", "Supported features, e.g. kvm"),
            List("--mandatory-features", "Features every build it takes must require"),
            Text("--slots", "Concurrent builds, 1..1024 (default: number of CPUs)"),
            Text("--speed", "Speed factor, > 0 and <= 100 (default 1)"),
            Text("--broker-uri", "RabbitMQ node(s), amqp:// or amqps://, comma separated"),
            Text("--broker-password-file", "File with the broker password (0600), instead of one in --broker-uri (Broker:PasswordFile)"),
            Text("--broker-ca-file", "PEM file of the CA that signed the broker's certificate, for amqps:// (Broker:CaCertificateFile)"),
            Text("--store-dir", "Logical store directory (default /nix/store)"),
            Text("--root", "Physical root the store lives under (default: none)"),
            Text("--build-dir", "Directory for build directories"),
            Text("--heartbeat-interval", "Heartbeat interval, hh:mm:ss"),
            Text("--log-file", "The agent's own log as JSON lines (Logs:JsonFile)"),
            Text("--signing-key-file", "Secret signing key; generated (named --name) when missing"),
            List("--dispatcher-key", "Trusted dispatcher public key NAME:BASE64, written to --trusted-dispatcher-keys-file"),
            Text("--trusted-dispatcher-keys-file", "File of trusted dispatcher keys (must exist unless --dispatcher-key is given)"),
            Text("--origin", "The origin's sshd HOST[:PORT] (port 22 by default)"),
            List("--origin-host-key", "Its pinned host key fingerprint SHA256:BASE64"),
            List("--origin-host-key-file", "Or its host public key file (ssh_host_ed25519_key.pub); the pin is its SHA256 fingerprint"),
            Text("--origin-private-key-file", "SSH private key the worker logs in to the origin with"),
            List("--origin-key", "Public key NAME:BASE64 trusted on input paths, written to --trusted-input-keys-file (default: the --dispatcher-key(s))"),
            Text("--trusted-input-keys-file", "File of keys trusted on input paths (must exist unless keys are given)"),
        };
        var unsandboxed = new Option<bool>("--allow-unsandboxed") { Description = "Let builders run without the sandbox when it is not possible here" };
        var destdir = new Option<string?>("--destdir") { Description = "Write every file below DIR; the paths inside the files stay those of the real machine" };
        var dryRun = new Option<bool>("--dry-run") { Description = "Check only; files this command or the installer makes (keys, trusted key files) may be missing" };
        command.Options.Add(unsandboxed);
        command.Options.Add(destdir);
        command.Options.Add(dryRun);

        command.SetAction(async (result, cancellationToken) =>
        {
            var flags = new InitFlags(
                o.ToDictionary(e => e.Key, e => result.GetValue(e.Value)),
                lists.ToDictionary(e => e.Key, e => Split(result.GetValue(e.Value))),
                result.GetValue(unsandboxed));
            var init = new WorkerInit(result.GetRequiredValue(config), result.GetValue(destdir), Console.Out);
            var problems = await init.RunAsync(flags, result.GetValue(dryRun), cancellationToken);
            foreach (var problem in problems)
                await Console.Error.WriteLineAsync("buildfarm-worker init: error: " + problem);
            return problems.Count == 0 ? 0 : UsageError;
        });
        return command;
    }

    private static string[] Split(string[]? values) =>
        [.. (values ?? []).SelectMany(v => v.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)).Distinct(StringComparer.Ordinal)];
}
