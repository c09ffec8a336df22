using BuildFarm.Store.Signing;
using BuildFarm.Testing;
using BuildFarm.Worker.Configuration;
using BuildFarm.Worker.Keys;

namespace BuildFarm.Worker.Tests.Keys;

public sealed class WorkerKeysTests : IDisposable
{
    private readonly TempDirectory _dir = new("worker-keys");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Load_OwnerOnlySigningKey_Loads()
    {
        var key = SigningKey.Generate("w-1");
        SecretKeyFiles.Write(_dir.Combine("w.sec"), key + "\n");

        var keys = WorkerKeys.Load(Section());

        Assert.Equal(key.PublicKey.ToString(), keys.SigningKey.PublicKey.ToString());
    }

    [Fact]
    public void Load_WorldReadableSigningKey_RefusedNamingTheKeyAndTheFix()
    {
        var file = _dir.Combine("w.sec");
        File.WriteAllText(file, SigningKey.Generate("w-1") + "\n");
        File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);

        var e = Assert.Throws<InvalidOperationException>(() => WorkerKeys.Load(Section()));

        Assert.StartsWith($"Keys:SigningKeyFile '{file}' is unusable: secret key file '{file}' is accessible by group or others (mode 0644)", e.Message, StringComparison.Ordinal);
        Assert.EndsWith($"`chmod 600 {file}`", e.Message, StringComparison.Ordinal);
    }

    private KeysSection Section()
    {
        var trusted = _dir.Combine("dispatchers.pub");
        File.WriteAllText(trusted, SigningKey.Generate("d-1").PublicKey + "\n");
        return new KeysSection { SigningKeyFile = _dir.Combine("w.sec"), TrustedDispatcherKeysFile = trusted };
    }
}
