//! Layer shapes, names, units and receptive fields of both architectures.

use deepvis_model::Arch;

#[test]
fn squeezenet_shapes_follow_the_readme() {
    let info = Arch::SqueezeNet1_0.info();
    let l = info.layers();
    let get = |n: &str| {
        l.iter()
            .find(|x| x.name == n)
            .map(|x| (x.channels, x.height, x.width))
    };
    assert_eq!(get("conv1"), Some((96, 111, 111)));
    assert_eq!(get("pool1"), Some((96, 55, 55)));
    assert_eq!(get("fire4"), Some((256, 55, 55)));
    assert_eq!(get("pool4"), Some((256, 27, 27)));
    assert_eq!(get("fire8"), Some((512, 27, 27)));
    assert_eq!(get("pool8"), Some((512, 13, 13)));
    assert_eq!(get("fire9"), Some((512, 13, 13)));
    assert_eq!(get("conv10"), Some((1000, 15, 15)));
    assert_eq!(get("pool10"), Some((1000, 1, 1)));
}

#[test]
fn alexnet_shapes_follow_torchvision() {
    let info = Arch::AlexNet.info();
    let l = info.layers();
    let get = |n: &str| {
        l.iter()
            .find(|x| x.name == n)
            .map(|x| (x.channels, x.height, x.width))
    };
    assert_eq!(get("conv1"), Some((64, 55, 55)));
    assert_eq!(get("pool2"), Some((192, 13, 13)));
    assert_eq!(get("conv5"), Some((256, 13, 13)));
    assert_eq!(get("pool5"), Some((256, 6, 6)));
    assert_eq!(get("fc8"), Some((1000, 1, 1)));
}

#[test]
fn unknown_layer_names_the_known_ones() {
    let s = Arch::SqueezeNet1_0.info();
    let e = s.resolve("fire10").unwrap_err();
    assert!(e.to_string().contains("fire9"), "{e}");
    assert_eq!(s.resolve("logits").unwrap(), "pool10");
    assert_eq!(Arch::AlexNet.info().resolve("logits").unwrap(), "fc8");
    // inner nodes of the graph are layers too, though the table lists the named stages
    assert_eq!(s.layer("fire9.concat").unwrap().channels, 512);
    assert_eq!(s.layers().len(), 15);
}

#[test]
fn receptive_fields_follow_the_geometry() {
    let a = Arch::SqueezeNet1_0.info();
    // conv1: 7x7 stride 2, no padding
    let r = a.receptive_field("conv1", 3, 5, 227).unwrap();
    assert_eq!((r.y0, r.y1, r.x0, r.x1), (6, 13, 10, 17));
    assert_eq!((r.height(), r.width()), (7, 7));
    // pool1 (3x3 stride 2 over conv1): rows 4y .. 4y+10
    let r = a.receptive_field("pool1", 2, 0, 227).unwrap();
    assert_eq!((r.y0, r.y1, r.x0, r.x1), (8, 19, 0, 11));
    // fire9 at (6, 6), by hand: pool8 5..7, fire8 10..16, fire7 9..17, fire6 8..18,
    // fire5 7..19, pool4 6..20, fire4 12..42, fire3 11..43, fire2 10..44, pool1 9..45,
    // conv1 18..92, input 36..190
    let r = a.receptive_field("fire9", 6, 6, 227).unwrap();
    assert_eq!((r.y0, r.y1, r.x0, r.x1), (36, 191, 36, 191));
    // a corner unit reaches into the padding; clamping keeps the image part
    let r = a.receptive_field("fire9", 0, 0, 227).unwrap();
    assert!(r.y0 < 0);
    let c = r.clamped(227, 227);
    assert_eq!((c.y0, c.x0), (0, 0));
    assert!(c.height() < r.height());
    // class scores see everything
    let r = a.receptive_field("pool10", 0, 0, 227).unwrap();
    assert_eq!((r.y0, r.y1, r.x0, r.x1), (0, 227, 0, 227));
    // AlexNet conv1: 11x11 stride 4 pad 2
    let r = Arch::AlexNet
        .info()
        .receptive_field("conv1", 1, 1, 224)
        .unwrap();
    assert_eq!((r.y0, r.y1), (2, 13));
    assert!(a.receptive_field("fire9", 13, 0, 227).is_err());
}

#[test]
fn units_out_of_range_are_errors() {
    let l = Arch::SqueezeNet1_0.info().layer("fire9").unwrap();
    assert!(l.check_unit(511, Some((12, 12))).is_ok());
    let e = l.check_unit(512, None).unwrap_err().to_string();
    assert!(e.contains("channel 512") && e.contains("fire9"), "{e}");
    assert!(l.check_unit(0, Some((13, 0))).is_err());
    assert_eq!(l.centre(), (6, 6));
}
