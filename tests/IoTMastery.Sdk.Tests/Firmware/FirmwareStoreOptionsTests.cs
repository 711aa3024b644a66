using IoTMastery.Sdk.Aws;
using IoTMastery.Sdk.Azure;
using IoTMastery.Sdk.Gcp;

namespace IoTMastery.Sdk.Tests.Firmware;

/// <summary>The cloud providers' two firmware-store options share one rule set and one default location.</summary>
public sealed class FirmwareStoreOptionsTests
{
    public static TheoryData<string> BadPaths => ["", "   ", "fw\0.db"];

    [Theory]
    [MemberData(nameof(BadPaths))]
    public void A_bad_FirmwareStorePath_is_an_ArgumentException_naming_the_option_on_every_cloud_provider(string path)
    {
        Action[] validations =
        [
            () => new AwsIoTOptions { Region = "us-east-1", FirmwareStorePath = path }.Validate(),
            () => new AzureIoTOptions { ConnectionString = "HostName=h.azure-devices.net;SharedAccessKeyName=p;SharedAccessKey=AAAA", FirmwareStorePath = path }.Validate(),
            () => new GcpIoTOptions { ProjectId = "proj-1", RegistryId = "reg-1", FirmwareStorePath = path }.Validate(),
        ];
        foreach (var validate in validations)
            Assert.Equal("FirmwareStorePath", Assert.Throws<ArgumentException>(validate).ParamName);
    }

    [Fact]
    public void A_folder_is_refused_as_a_FirmwareStorePath()
    {
        var error = Assert.Throws<ArgumentException>(() => new AzureIoTOptions { ConnectionString = "HostName=h.azure-devices.net;SharedAccessKeyName=p;SharedAccessKey=AAAA", FirmwareStorePath = Path.GetTempPath() }.Validate());
        Assert.Contains("is a folder", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_default_file_is_under_LocalApplicationData_and_named_after_the_endpoint()
    {
        var path = FirmwareStoreOptions.DefaultPath("My-Hub.azure-devices.net");
        Assert.Equal(Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData), "IoTMastery", "firmware-my-hub.azure-devices.net.db"), path);
        // Anything outside A-Z a-z 0-9 . - _ (ports, slashes) becomes '_': one flat file name per endpoint.
        Assert.EndsWith("firmware-us-east-1-127.0.0.1_5000.db", FirmwareStoreOptions.DefaultPath("us-east-1-127.0.0.1:5000"), StringComparison.Ordinal);
    }
}
