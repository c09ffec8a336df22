using System.CommandLine;
using BuildFarm.Transfer.Origins;

namespace BuildFarm.Worker.Cli;

/// <summary>The origin connection options the hidden debug commands share, and the settings they make.</summary>
internal sealed class DebugOriginOptions
{
    private readonly Option<string> _host = new("--host") { Description = "Origin host", Required = true };
    private readonly Option<int> _port = new("--port") { Description = "sshd port", DefaultValueFactory = _ => 22 };
    private readonly Option<string> _user = new("--user") { Description = "Login user", DefaultValueFactory = _ => Environment.UserName };
    private readonly Option<string> _key = new("--key") { Description = "Client private key file", Required = true };
    private readonly Option<string[]> _fingerprint = new("--host-key-fingerprint") { Description = "Pinned host key, SHA256:base64", Required = true };
    private readonly Option<string[]> _cipher = new("--cipher")
    {
        Description = "SSH cipher(s) to propose first (default: Origins' default, AES-GCM first); e.g. aes128-ctr for SSH.NET's own default",
    };

    private readonly Option<OriginTransport> _transport = new("--transport")
    {
        Description = "SSH client: OpenSsh (default) or SshNet",
        DefaultValueFactory = _ => OriginTransport.OpenSsh,
    };

    public void AddTo(Command command)
    {
        foreach (var option in new Option[] { _host, _port, _user, _key, _fingerprint, _cipher, _transport })
            command.Options.Add(option);
    }

    public OriginConnectionSettings Settings(ParseResult result, string remoteCommand = "buildfarm") =>
        new(result.GetValue(_host)!, result.GetValue(_port), result.GetValue(_user)!, result.GetValue(_key)!, result.GetValue(_fingerprint)!, remoteCommand)
        {
            PreferredCiphers = result.GetValue(_cipher) is { Length: > 0 } ciphers ? ciphers : OriginConnectionSettings.DefaultCiphers,
            Transport = result.GetValue(_transport),
        };
}
