using System.CommandLine;
using BuildFarm.Store.Signing;

namespace BuildFarm.Cli.Keys;

/// <summary>
/// <c>buildfarm keys public SECRET-FILE</c>: prints the public key (<c>name:base64</c>) of a secret key file, like
/// <c>nix key convert-secret-to-public</c>; <c>-</c> reads the secret key from stdin. Scripts use this instead of
/// cutting the key bytes themselves.
/// </summary>
internal static class PublicKeyCommand
{
    public static Command Create()
    {
        var file = new Argument<string>("SECRET-FILE") { Description = "Secret key file (name:base64, as written by keys generate), or - for stdin" };
        var command = new Command("public", "Print the public key of a secret key file (like nix key convert-secret-to-public)") { file };
        command.SetAction((result, cancellationToken) => CliErrorHandler.RunAsync(result, "keys public", async () =>
        {
            var path = result.GetRequiredValue(file);
            string text;
            try
            {
                text = path == "-"
                    ? await Console.In.ReadToEndAsync(cancellationToken)
                    : await File.ReadAllTextAsync(path, cancellationToken);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new CliError($"cannot read secret key file '{path}': {e.Message}");
            }

            if (!SigningKey.TryParse(text.Trim(), out var key, out var error))
                throw new CliError($"'{path}' is not a secret key: {error}");
            await result.InvocationConfiguration.Output.WriteLineAsync(key!.PublicKey.ToString());
            return 0;
        }));
        return command;
    }
}
