//! The tables of names: the attribution methods and the filters, in words and on the command
//! line.

use deepvis_viz::{BackFilter, BackMode, one_of};

#[test]
fn every_mode_round_trips_through_its_name() {
    for m in BackMode::ALL {
        assert_eq!(BackMode::from_name(m.as_str()), Some(m));
        assert_eq!(
            BackMode::from_name(&m.as_str().to_ascii_uppercase()),
            Some(m)
        );
    }
    assert_eq!(BackMode::METHODS.len(), BackMode::ALL.len() - 1);
    assert!(!BackMode::METHODS.contains(&BackMode::Off));
    assert_eq!(BackMode::from_name("deconvolution"), None);
}

#[test]
fn the_back_projections_are_the_three_rules() {
    for m in BackMode::ALL {
        assert_eq!(
            m.is_projection(),
            BackMode::PROJECTIONS.contains(&m),
            "{m:?}"
        );
        match BackMode::parse_projection(m.as_str()) {
            Ok(p) => assert!(p == m && m.is_projection(), "{m:?}"),
            Err(e) => {
                assert!(!m.is_projection(), "{m:?}");
                assert!(
                    e.contains(m.as_str()) && e.contains("grad, deconv or guided"),
                    "{e}"
                );
            }
        }
    }
}

#[test]
fn every_filter_round_trips_and_a_bad_one_lists_them() {
    for f in BackFilter::ALL {
        assert_eq!(BackFilter::parse(f.as_str()), Ok(f));
    }
    let e = BackFilter::parse("sharpen").unwrap_err();
    assert!(
        e.contains("sharpen") && e.contains("raw, gray, norm or normblur"),
        "{e}"
    );
    assert_eq!(one_of(&[]), "");
    assert_eq!(one_of(&["a"]), "a");
    assert_eq!(one_of(&["a", "b"]), "a or b");
}

/// On the command line: every method but `off` by its name, every filter by its name.
#[cfg(feature = "clap")]
#[test]
fn the_command_line_names_are_the_tables() {
    use clap::ValueEnum;
    let names: Vec<String> = BackMode::value_variants()
        .iter()
        .filter_map(|m| m.to_possible_value())
        .map(|v| v.get_name().to_string())
        .collect();
    let methods: Vec<&str> = BackMode::METHODS.iter().map(|m| m.as_str()).collect();
    assert_eq!(names, methods);
    for &m in BackMode::METHODS {
        assert_eq!(<BackMode as ValueEnum>::from_str(m.as_str(), false), Ok(m));
    }
    assert!(<BackMode as ValueEnum>::from_str("off", false).is_err());
    for f in BackFilter::ALL {
        assert_eq!(
            <BackFilter as ValueEnum>::from_str(f.as_str(), false),
            Ok(f)
        );
    }
}
