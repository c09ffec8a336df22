using System.CommandLine;
using BuildFarm.Store.Signing;

namespace BuildFarm.Cli.Keys;

/// <summary>
/// <c>buildfarm keys generate --name NAME [--secret-file F] [--public-file F]</c>: a new key pair in Nix's format.
/// Each key goes to its file when given (never overwriting; the secret file is created 0600), otherwise to stdout,
/// secret first.
/// </summary>
internal static class GenerateKeyCommand
{
    private const UnixFileMode SecretMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode PublicMode = SecretMode | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    public static Command Create()
    {
        var name = new Option<string>("--name") { Description = "Key name, e.g. farm.example.org-1", Required = true };
        var secretFile = new Option<string?>("--secret-file") { Description = "Write the secret key here (mode 0600) instead of stdout" };
        var publicFile = new Option<string?>("--public-file") { Description = "Write the public key here instead of stdout" };
        var command = new Command("generate", "Generate an Ed25519 key pair (like nix key generate-secret)") { name, secretFile, publicFile };
        command.SetAction((result, cancellationToken) => CliErrorHandler.RunAsync(result, "keys generate", async () =>
        {
            var key = SigningKey.Generate(result.GetRequiredValue(name));
            await EmitAsync(result, result.GetValue(secretFile), key.ToString(), SecretMode, cancellationToken);
            await EmitAsync(result, result.GetValue(publicFile), key.PublicKey.ToString(), PublicMode, cancellationToken);
            return 0;
        }));
        return command;
    }

    private static async Task EmitAsync(ParseResult result, string? file, string text, UnixFileMode mode, CancellationToken cancellationToken)
    {
        if (file is null)
        {
            await result.InvocationConfiguration.Output.WriteLineAsync(text);
            return;
        }

        try
        {
            await using var stream = new FileStream(file, new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                UnixCreateMode = mode,
            });
            await stream.WriteAsync(System.Text.Encoding.UTF8.GetBytes(text), cancellationToken);
        }
        catch (IOException e) when (File.Exists(file))
        {
            throw new CliError($"refusing to overwrite existing key file '{file}' ({e.Message})");
        }
    }
}
