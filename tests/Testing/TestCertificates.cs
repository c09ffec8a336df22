using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace BuildFarm.Testing;

/// <summary>
/// A test CA and a server certificate it signed for <c>127.0.0.1</c> and <c>localhost</c>, as PEM files in a temp
/// dir (the broker's <c>ssl_options</c>, the clients' <c>Broker:CaCertificateFile</c>).
/// </summary>
public sealed class TestCertificates : IDisposable
{
    private readonly TempDirectory _dir = new("certs");

    private TestCertificates()
    {
    }

    /// <summary>The CA certificate (PEM) clients trust.</summary>
    public string CaFile => _dir.Combine("ca.pem");

    public string ServerCertFile => _dir.Combine("server.pem");

    public string ServerKeyFile => _dir.Combine("server.key");

    /// <summary>A fresh CA named <paramref name="caName"/> and a server certificate it signed.</summary>
    public static TestCertificates Create(string caName = "BuildFarm test CA")
    {
        var certs = new TestCertificates();
        using var caKey = RSA.Create(2048);
        var caRequest = new CertificateRequest($"CN={caName}", caKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        caRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(caRequest.PublicKey, false));
        var now = DateTimeOffset.UtcNow;
        using var ca = caRequest.CreateSelfSigned(now.AddMinutes(-5), now.AddDays(1));

        using var serverKey = RSA.Create(2048);
        var request = new CertificateRequest("CN=127.0.0.1", serverKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        names.AddDnsName("localhost");
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        using var server = request.Create(ca, now.AddMinutes(-5), now.AddDays(1), RandomNumberGenerator.GetBytes(8));

        File.WriteAllText(certs.CaFile, ca.ExportCertificatePem() + "\n");
        File.WriteAllText(certs.ServerCertFile, server.ExportCertificatePem() + "\n");
        File.WriteAllText(certs.ServerKeyFile, serverKey.ExportPkcs8PrivateKeyPem() + "\n");
        return certs;
    }

    public void Dispose() => _dir.Dispose();
}
