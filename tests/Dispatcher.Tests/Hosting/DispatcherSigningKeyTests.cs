using BuildFarm.Dispatcher.Hosting;
using BuildFarm.Store.Signing;
using BuildFarm.Testing;
using Microsoft.Extensions.Configuration;

namespace BuildFarm.Dispatcher.Tests.Hosting;

public sealed class DispatcherSigningKeyTests : IDisposable
{
    private readonly TempDirectory _dir = new("dispatcher-key");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Validate_OwnerOnlySigningKey_NoErrors()
    {
        var file = _dir.Combine("dispatcher.sec");
        SecretKeyFiles.Write(file, SigningKey.Generate("d-1") + "\n");

        Assert.Empty(DispatcherRegistration.Validate(Config(file)));
    }

    [Fact]
    public void Validate_GroupReadableSigningKey_StartUpRefusedWithTheFix()
    {
        var file = _dir.Combine("dispatcher.sec");
        SecretKeyFiles.Write(file, SigningKey.Generate("d-1") + "\n");
        File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead);

        var errors = DispatcherRegistration.Validate(Config(file));

        Assert.Equal([$"Dispatcher:SigningKeyFile: secret key file '{file}' is accessible by group or others (mode 0640): anyone who can read it can sign as this key; restrict it with `chmod 600 {file}`"], errors);
    }

    private IConfiguration Config(string signingKeyFile)
    {
        var workers = _dir.Combine("workers.pub");
        File.WriteAllText(workers, SigningKey.Generate("w-1").PublicKey + "\n");
        return new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Dispatcher:SigningKeyFile"] = signingKeyFile,
            ["Dispatcher:DatabasePath"] = _dir.Combine("db.sqlite"),
            ["Dispatcher:TrustedWorkerKeysFile"] = workers,
        }).Build();
    }
}
